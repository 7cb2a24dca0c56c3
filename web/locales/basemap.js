// Basemap names and the switch (web/basemap.js).
export default {
  "zh-CN": {
    "basemap.label": "底图",
    "basemap.offline": "离线道路图",
    "basemap.osm": "OpenStreetMap",
    "basemap.amap": "高德地图",
    "basemap.tianditu": "天地图",
    "basemap.baidu": "百度地图",
    "basemap.custom": "自定义瓦片",
    "basemap.zone": "时区 {zone}",
  },
  en: {
    "basemap.label": "Basemap",
    "basemap.offline": "Offline roads",
    "basemap.osm": "OpenStreetMap",
    "basemap.amap": "AMap",
    "basemap.tianditu": "Tianditu",
    "basemap.baidu": "Baidu Maps",
    "basemap.custom": "Custom tiles",
    "basemap.zone": "Time zone {zone}",
  },
};
