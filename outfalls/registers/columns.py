"""The register's columns (名录字段): one ``Column`` per field, in file order, with its Shapefile name, labels,
type and XLSX width, and the Chinese labels of the codes the register spells out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Column:
    """One register column: its field name (CSV, GIS formats), Shapefile name (≤ 10 characters), labels, type,
    width in the XLSX sheet and what it holds.
    """

    name: str
    shp: str
    zh: str
    en: str
    kind: Literal["int", "float", "str", "date"]
    width: int
    about: str


COLUMNS: tuple[Column, ...] = (
    Column("outfall_id", "OUTFALL_ID", "系统编号", "Record id", "int", 9, "the outfall's number in this system"),
    Column("national_code", "NAT_CODE", "排污口编码（国家统一赋码）", "National code", "str", 24, "国家统一赋码"),
    Column("national_code_source", "NAT_SRC", "国家编码状态", "National code provenance", "str", 12,
           "暂不掌握 / 已掌握 / 现场标识牌显示"),
    Column("local_code", "LOC_CODE", "排污口编码（省市自有编码）", "Local code", "str", 22,
           "provincial or municipal code"),
    Column("local_code_source", "LOC_SRC", "自有编码状态", "Local code provenance", "str", 12,
           "暂不掌握 / 已掌握 / 现场标识牌显示"),
    Column("name", "NAME", "排污口名称", "Name", "str", 40, "the outfall's name"),
    Column("name_source", "NAME_SRC", "名称状态", "Name provenance", "str", 12, "暂不掌握 / 已掌握 / 现场标识牌显示"),
    Column("type_scheme", "TYPE_SCH", "分类体系", "Type scheme", "str", 10,
           "HJ1312 (HJ 1312-2023); SX2020, YR2021 for older vocabularies"),
    Column("type1_code", "TYPE1_CODE", "一级分类代码", "Type level 1 code", "str", 8, "code of the 一级 class"),
    Column("type1", "TYPE1", "一级分类", "Type level 1", "str", 18, "一级 class"),
    Column("type2_code", "TYPE2_CODE", "二级分类代码", "Type level 2 code", "str", 8, "code of the 二级 class"),
    Column("type2", "TYPE2", "二级分类", "Type level 2", "str", 22, "二级 class"),
    Column("type3_code", "TYPE3_CODE", "三级分类代码", "Type level 3 code", "str", 8, "code of the 三级 class"),
    Column("type3", "TYPE3", "三级分类", "Type level 3", "str", 18, "三级 class"),
    Column("type_raw", "TYPE_RAW", "记录的类型原文", "Type as recorded", "str", 18, "the type as written in the field"),
    Column("province_code", "PROV_CODE", "省级行政区代码", "Province code", "str", 9, "GB/T 2260"),
    Column("province", "PROVINCE", "省", "Province", "str", 10, "province"),
    Column("city_code", "CITY_CODE", "地市代码", "City code", "str", 9, "GB/T 2260"),
    Column("city", "CITY", "市", "City", "str", 10, "prefecture-level city"),
    Column("county_code", "CNTY_CODE", "区县代码", "County code", "str", 9, "GB/T 2260"),
    Column("county", "COUNTY", "区县", "County", "str", 12, "county or district"),
    Column("receiving_water", "RECV_WATER", "排入水体", "Receiving water", "str", 14, "排入水体 as recorded"),
    Column("river", "RIVER", "所在河流", "River", "str", 12, "nearest river of the reference data"),
    Column("basin_code", "BASIN_CODE", "流域代码", "Basin code", "str", 8, "basin code of the reference data"),
    Column("basin", "BASIN", "流域", "Basin", "str", 10, "流域"),
    Column("sub_basin_code", "SUBB_CODE", "子流域代码", "Sub-basin code", "str", 9, "sub-basin code"),
    Column("sub_basin", "SUB_BASIN", "子流域", "Sub-basin", "str", 12, "子流域"),
    Column("lon", "LON", "经度", "Longitude", "float", 12, "decimal degrees, 7 places, in the column crs"),
    Column("lat", "LAT", "纬度", "Latitude", "float", 11, "decimal degrees, 7 places, in the column crs"),
    Column("crs", "CRS", "坐标系", "CRS", "str", 10, "EPSG:4490 (CGCS2000) or EPSG:4326 (WGS 84)"),
    Column("found_level", "FOUND_LVL", "排查级别", "Survey level", "int", 8, "1 drone, 2 foot survey, 3 expert check"),
    Column("found_by", "FOUND_BY", "发现方式", "Found by", "str", 14, "三级排查: how the outfall was found"),
    Column("found_on", "FOUND_ON", "发现日期", "Found on", "date", 11, "the day it was found"),
    Column("status", "STATUS", "状态代码", "State code", "str", 11, "candidate … closed"),
    Column("status_label", "STATUS_LBL", "状态", "State", "str", 9, "the lifecycle state that day"),
    Column("status_since", "STAT_SINCE", "状态起始日期", "State since", "date", 11, "when it reached that state"),
    Column("discharging", "DISCHARGE", "是否排放", "Discharging", "str", 8, "是 / 否（无水） / 未监测"),
    Column("monitored_on", "MON_DATE", "最近监测日期", "Last monitored", "date", 11, "latest monitoring visit"),
    Column("monitoring_state", "MON_STATE", "最近监测情况", "Monitoring found", "str", 10, "排放 / 无水 / 不具备条件"),
    Column("exceedances", "EXCEED", "超标项数", "Over-limit results", "int", 8,
           "results of the latest visit over the applicable limit"),
    Column("monitoring_summary", "MON_SUMM", "最近监测结果", "Latest results", "str", 40,
           "parameter value unit of the latest visit; （超标） = over the limit"),
    Column("responsible_party", "RESP_PARTY", "责任主体", "Responsible party", "str", 24, "主要责任主体 (or 政府兜底)"),
    Column("remediation_category", "REM_CAT", "整治类型代码", "Remediation code", "str", 11,
           "ban, merge, standardise, none_needed"),
    Column("remediation", "REM_LABEL", "整治类型", "Remediation", "str", 9,
           "依法取缔 / 清理合并 / 规范整治 / 无需整治"),
    Column("remediation_state", "REM_STATE", "整治进展", "Remediation state", "str", 9,
           "latest remediation record: 方案 / 进展 / 完成 / 验收"),
    Column("remediation_pct", "REM_PCT", "整治进度（%）", "Remediation progress (%)", "int", 8,
           "per cent done at the latest progress record"),
    Column("closed_on", "CLOSED_ON", "销号日期", "Closed on", "date", 11, "the day it was closed out (销号)"),
    Column("field_records", "FIELD_RECS", "现场记录", "Field records", "str", 16,
           "ids of the field records (observations) behind the line, separated by ;"),
    Column("record_url", "RECORD_URL", "档案链接", "Record link", "str", 16,
           "the outfall's page on the server (its history and field records)"),
    Column("is_demo", "IS_DEMO", "演示数据", "Demo record", "int", 7, "1 = generated demo record, not real data"),
)  # fmt: skip
COLUMN_NAMES = tuple(c.name for c in COLUMNS)
SHP_NAMES = {c.name: c.shp for c in COLUMNS}

PROVENANCE_ZH = {"unknown": "暂不掌握", "known": "已掌握", "sign": "现场标识牌显示"}
STATUS_ZH = {"candidate": "疑似", "surveyed": "已排查", "traced": "已溯源", "remediating": "整治中",
             "remediated": "已整治", "closed": "已销号", "rejected": "已排除", "merged": "已合并"}  # fmt: skip
FOUND_BY_ZH = {"drone": "一级：无人机航测", "foot": "二级：人工徒步排查", "expert": "三级：专家质控核查",
               "public": "公众举报"}
FOUND_LEVEL = {"drone": 1, "foot": 2, "expert": 3}
REMEDIATION_ZH = {"ban": "依法取缔", "merge": "清理合并", "standardise": "规范整治", "none_needed": "无需整治"}
STEP_ZH = {"plan": "方案", "progress": "进展", "completion": "完成", "acceptance": "验收"}
DISCHARGE_ZH = {"discharging": "排放", "dry": "无水", "not_possible": "不具备条件"}
NO_BASIN = "未定流域"
CODE_LISTS = (("status", STATUS_ZH), ("found_by", FOUND_BY_ZH), ("national_code_source", PROVENANCE_ZH),
              ("remediation_category", REMEDIATION_ZH), ("remediation_state", STEP_ZH),
              ("monitoring_state", DISCHARGE_ZH))  # fmt: skip
