"""Departments and the event catalog of the demo district.

Modelled on Chinese "12345 + grid" catalogs (城市管理事部件分类): 9 departments,
8 major categories, 28 minor categories. Each minor category names its
responsible department, accept and resolve deadlines (amount, unit), the
closing standard, the skill a handler needs, whether a grid worker may handle
it on the spot, whether it is dispatched automatically, and the duplicate
radius (m) and window (h). ``elderly_help`` is *sensitive* (about a person
living alone: never shown to the public, see ``spatial.privacy``). Codes of the test district's categories (pothole,
manhole_missing, illegal_parking, noise, waterlogging) are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

#: code, name, phone
DEPARTMENTS: list[tuple[str, str, str]] = [
    ("grid", "Grid Service Management Centre 网格化服务管理中心", "020-8200-1000"),
    ("urban", "Urban Management Bureau 城市管理和综合执法局", "020-8200-1100"),
    ("water", "Water Affairs Bureau 水务局", "020-8200-1200"),
    ("traffic", "Traffic Police Brigade 交警大队", "020-8200-1300"),
    ("env", "Ecology and Environment Bureau 生态环境分局", "020-8200-1400"),
    ("greening", "Forestry and Landscaping Bureau 林业和园林局", "020-8200-1500"),
    ("safety", "Emergency Management Bureau 应急管理局", "020-8200-1600"),
    ("civil", "Civil Affairs Bureau 民政局", "020-8200-1700"),
    ("housing", "Housing and Construction Bureau 住房和建设局", "020-8200-1800"),
]

#: major code -> name
MAJORS: dict[str, str] = {
    "appearance": "City appearance 市容环境",
    "road": "Roads and facilities 道路设施",
    "traffic": "Traffic order 交通秩序",
    "env": "Environment and noise 生态环境",
    "water": "Drainage and waterlogging 排水防涝",
    "greening": "Greening 园林绿化",
    "safety": "Public safety 公共安全",
    "care": "Elderly care and livelihood 民生服务",
}


@dataclass(frozen=True)
class CategorySpec:
    """One minor category. Limits are (amount, unit) with unit hours/working_days/calendar_days."""

    code: str
    major: str
    name: str
    department: str
    accept: tuple[float, str]
    resolve: tuple[float, str]
    skill: str | None
    on_the_spot: bool
    auto_dispatch: bool
    radius_m: float
    window_h: float
    priority: int
    weight: float  # share of the demo ticket stream
    closing: str
    keywords: tuple[str, ...] = ()
    sensitive: bool = False  # about a person (elderly help...): never public (spatial.privacy)


def _c(code, major, name, dept, accept, resolve, skill, spot, auto, radius, window, prio, weight, closing,
       keywords=(), sensitive=False) -> CategorySpec:
    return CategorySpec(code, major, name, dept, accept, resolve, skill, spot, auto, radius, window, prio,
                        weight, closing, tuple(keywords), sensitive)


H, WD, CD = "hours", "working_days", "calendar_days"

CATEGORIES: list[CategorySpec] = [
    # city appearance
    _c("garbage_overflow", "appearance", "Overflowing bin 垃圾满溢", "urban", (2, H), (12, H), "sanitation",
       True, True, 80, 12, 3, 7.0, "Bin emptied and area swept; photo before/after", ("垃圾", "bin")),
    _c("illegal_vending", "appearance", "Street vending 占道经营", "urban", (2, H), (1, WD), "enforcement",
       True, False, 120, 8, 3, 6.0, "Stall removed, vendor advised; photo", ("摊贩",)),
    _c("illegal_ad", "appearance", "Illegal advertising 违规广告", "urban", (24, H), (3, WD), "enforcement",
       True, False, 100, 48, 4, 3.0, "Posters removed; photo"),
    _c("construction_waste", "appearance", "Construction waste dumping 建筑垃圾", "urban", (4, H), (2, WD),
       "sanitation", False, False, 150, 48, 3, 3.0, "Waste cleared and dumper identified"),
    # roads and facilities
    _c("pothole", "road", "Pothole 路面坑洼", "housing", (24, H), (5, WD), "road_repair", False, False,
       60, 72, 3, 6.0, "Pothole filled to flush level; photo", ("坑", "pothole")),
    _c("manhole_missing", "road", "Missing manhole cover 井盖缺失", "water", (1, H), (1, CD), "drainage", False,
       True, 50, 24, 1, 2.5, "Cover replaced or area fenced within 1 h; photo", ("井盖",)),
    _c("streetlight_out", "road", "Street light out 路灯不亮", "urban", (24, H), (3, WD), "electrical", False,
       False, 80, 72, 4, 4.0, "Light working at night; photo"),
    _c("damaged_facility", "road", "Damaged public facility 设施损坏", "urban", (24, H), (5, WD), "road_repair",
       False, False, 80, 72, 4, 3.0, "Facility repaired or replaced"),
    _c("blocked_sidewalk", "road", "Blocked sidewalk 人行道占用", "urban", (4, H), (1, WD), "enforcement", True,
       False, 80, 24, 3, 3.0, "Sidewalk cleared"),
    # traffic order
    _c("illegal_parking", "traffic", "Illegal parking 违法停车", "traffic", (1, H), (4, H), "traffic", True, True,
       50, 4, 2, 10.0, "Vehicle moved or ticketed; photo", ("停车", "parking")),
    _c("signal_fault", "traffic", "Traffic signal fault 信号灯故障", "traffic", (1, H), (12, H), "electrical",
       False, True, 100, 12, 1, 1.5, "Signal working; photo"),
    _c("shared_bikes", "traffic", "Shared bikes piled up 共享单车乱停", "traffic", (4, H), (1, WD), "traffic",
       True, False, 100, 24, 4, 4.0, "Bikes rearranged, operator notified"),
    # environment and noise
    _c("noise", "env", "Noise nuisance 噪声扰民", "env", (2, H), (3, WD), "inspection", False, False, 150, 24,
       3, 8.0, "Noise measured below limit or source stopped", ("噪音", "noise")),
    _c("construction_noise_night", "env", "Night construction noise 夜间施工噪声", "env", (1, H), (12, H),
       "inspection", False, True, 200, 12, 2, 3.0, "Works stopped or permit verified"),
    _c("smoke_odour", "env", "Smoke or odour 油烟异味", "env", (4, H), (3, WD), "inspection", False, False, 200,
       48, 3, 3.0, "Source identified and fixed"),
    _c("sewage_discharge", "env", "Illegal sewage discharge 污水直排", "water", (2, H), (2, WD), "drainage",
       False, False, 200, 48, 2, 1.5, "Discharge stopped; sample taken"),
    # drainage and waterlogging
    _c("waterlogging", "water", "Waterlogging 道路积水", "water", (1, H), (12, H), "drainage", False, True, 150,
       12, 1, 4.0, "Water drained, depth < 5 cm; photo", ("积水", "flood")),
    _c("drain_blocked", "water", "Blocked drain 雨水口堵塞", "water", (4, H), (2, WD), "drainage", True, False,
       80, 48, 3, 4.0, "Gully cleaned; photo"),
    _c("pipe_burst", "water", "Water main burst 水管爆裂", "water", (1, H), (1, CD), "plumbing", False, True, 150,
       12, 1, 1.5, "Supply restored, road reinstated"),
    # greening
    _c("fallen_tree", "greening", "Fallen tree or branch 倒树断枝", "greening", (1, H), (1, CD), "tree_care",
       False, True, 100, 24, 2, 2.0, "Road cleared, tree removed or propped"),
    _c("damaged_greenery", "greening", "Damaged greenery 绿地破坏", "greening", (24, H), (5, WD), "gardening",
       False, False, 100, 72, 4, 2.0, "Greenery restored"),
    _c("overgrown_plants", "greening", "Overgrown plants 树木遮挡", "greening", (24, H), (5, WD), "tree_care",
       False, False, 100, 72, 4, 2.0, "Pruned; sight lines clear"),
    # public safety
    _c("fire_hazard", "safety", "Fire hazard 消防隐患", "safety", (1, H), (1, WD), "safety", False, True, 100,
       24, 1, 2.0, "Hazard removed; fire lane clear"),
    _c("gas_smell", "safety", "Gas smell 燃气异味", "safety", (1, H), (12, H), "safety", False, True, 150, 6, 1,
       0.8, "Leak checked and fixed by the gas company"),
    _c("illegal_structure", "safety", "Illegal structure 违章搭建", "urban", (24, H), (10, WD), "enforcement",
       False, False, 50, 168, 3, 2.0, "Structure removed or regularised"),
    # elderly care and livelihood
    _c("elderly_help", "care", "Elderly person needs help 独居老人求助", "civil", (1, H), (1, CD), "care", True,
       True, 30, 24, 1, 1.5, "Visited, needs recorded and referred", sensitive=True),
    _c("stray_animals", "care", "Stray animals 流浪动物", "civil", (24, H), (3, WD), "care", False, False, 200,
       48, 4, 1.5, "Animal taken in"),
    _c("property_dispute", "care", "Property management complaint 物业纠纷", "housing", (24, H), (10, WD),
       "mediation", False, False, 50, 168, 4, 3.0, "Parties mediated; result recorded"),
]

#: skills of workers per department (a worker gets 1-3 of these)
DEPARTMENT_SKILLS: dict[str, list[str]] = {
    "grid": ["inspection", "sanitation", "enforcement", "traffic", "drainage", "care"],
    "urban": ["sanitation", "enforcement", "electrical", "road_repair"],
    "water": ["drainage", "plumbing"],
    "traffic": ["traffic", "electrical"],
    "env": ["inspection"],
    "greening": ["tree_care", "gardening"],
    "safety": ["safety"],
    "civil": ["care", "mediation"],
    "housing": ["road_repair", "mediation"],
}

#: number of demo workers per department (sums to 300)
DEPARTMENT_WORKERS: dict[str, int] = {
    "grid": 110, "urban": 55, "water": 35, "traffic": 30, "env": 15, "greening": 20, "safety": 12,
    "civil": 13, "housing": 10,
}
