"""The form pages' catalog: the same keys in zh-CN and English, and every literal key the pages
ask for (t("forms.…"), data-i18n="forms.…") is in it."""

from __future__ import annotations

import re
from pathlib import Path

WEB = Path(__file__).resolve().parents[2] / "web"
KEY = re.compile(r"^    \"([\w.-]+)\": ", re.MULTILINE)  # a word, not a locale
ASKED = re.compile(r'(?:\bt\(|data-i18n(?:-\w+)?=)["\'](forms\.[\w.-]+)["\']')


def catalog() -> tuple[set[str], set[str]]:
    text = (WEB / "locales" / "forms.js").read_text()
    zh, en = text.split("\n  en: {\n")
    return set(KEY.findall(zh)), set(KEY.findall(en))


def test_both_locales_have_the_same_words() -> None:
    zh, en = catalog()
    assert zh and zh == en, sorted(zh ^ en)


def test_every_word_asked_for_is_in_the_catalog() -> None:
    zh, _ = catalog()
    asked = set()
    for path in [*WEB.glob("*.js"), *WEB.glob("*.html")]:
        asked |= set(ASKED.findall(path.read_text()))
    assert asked, "the pages ask for no words?"
    assert asked <= zh, sorted(asked - zh)
