// Words every page shares (navigation, states, the locale switch). Areas add their own modules.
export default {
  "zh-CN": {
    "app.name": "渣土车监管平台",
    "locale.switch": "English",
    "errors.bad_request": "请求有误：{field}",
    "errors.unauthorized": "请先登录",
    "errors.forbidden": "无权执行此操作",
    "errors.not_found": "未找到",
  },
  en: {
    "app.name": "muck-tracker",
    "locale.switch": "中文",
    "errors.bad_request": "Bad request: {field}",
    "errors.unauthorized": "Please sign in",
    "errors.forbidden": "Not allowed",
    "errors.not_found": "Not found",
  },
};
