"""Cases (案件): from an alarm, a clue or an officer's hand to a closed case, with jurisdictions
and units, the party's portal, deadlines, escalation and the assessment of units and companies.

``machine`` is the pure state machine; ``repo`` the SQL; ``service`` the moves (facts gathered,
``machine`` decides, event chained, audit row, notice); ``notify`` the one place a case reaches a
person; ``jurisdictions`` the areas and routing; ``assessment`` the figures; ``api`` the HTTP.
"""
