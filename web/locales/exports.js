// Words of the export buttons (web/exports.js).
export default {
  "zh-CN": {
    "exports.button": "导出 {format}",
    "exports.busy": "正在导出…",
    "exports.done": "已导出 {rows} 行",
    "exports.progress": "正在导出：{percent}%",
    "exports.failed": "导出失败：{reason}",
    "exports.too_many": "导出任务过多，请稍后再试",
  },
  en: {
    "exports.button": "Export {format}",
    "exports.busy": "Exporting…",
    "exports.done": "{rows} rows exported",
    "exports.progress": "Exporting: {percent}%",
    "exports.failed": "Export failed: {reason}",
    "exports.too_many": "Too many exports running; try again shortly",
  },
};
