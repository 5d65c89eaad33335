"""``upkeep report assets --fiscal-year 2569``: end of life and the replacement budget.

Three sections procurement can paste into a budget request: what is already past end of
life, what reaches it within the fiscal year, and what follows in the next; each grouped by
site and class with the unit replacement cost from the reference-price table, a subtotal per
group and the total budget line in THB (spelled out in Thai words in the Thai report).
The budget line asked for is the first two sections; the third is the forecast for the
year after.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from datetime import date

from upkeep.config import Config
from upkeep.config.policy_assets import AssetsConfig
from upkeep.errors import StoreError
from upkeep.kit.cli import EXIT_OK, UsageError, with_config
from upkeep.kit.db import Database, db_path
from upkeep.kit.thai import (
    baht_text,
    fiscal_year_label,
    fiscal_year_period,
    format_baht,
    format_datetime,
)
from upkeep.policies.assets import (
    Asset,
    AssetRegister,
    EndOfLife,
    classify,
    date_fiscal_year,
    end_of_life,
    state_now,
    today_bangkok,
)
from upkeep.policies.assets_import import parse_date
from upkeep.policies.render import (
    Cell,
    Column,
    Day,
    Line,
    RenderError,
    Report,
    Section,
    T,
    Table,
    Total,
    render,
    sign_off,
)
from upkeep.policies.report_args import (
    add_output_args,
    date_arg,
    fiscal_year_arg,
    output_format,
)

CLASS_TEXT: dict[str, T] = {
    "ups": T("เครื่องสำรองไฟฟ้า (UPS)", "UPS unit"),
    "ups_battery": T("แบตเตอรี่เครื่องสำรองไฟฟ้า", "UPS battery"),
    "server": T("เครื่องคอมพิวเตอร์แม่ข่าย", "Server"),
    "pc": T("เครื่องคอมพิวเตอร์", "PC"),
    "notebook": T("เครื่องคอมพิวเตอร์โน้ตบุ๊ก", "Notebook"),
    "network": T("อุปกรณ์เครือข่าย", "Network device"),
    "other": T("อื่น ๆ", "Other"),
}
REASON_TEXT: dict[str, T] = {
    "age": T("ครบอายุการใช้งาน", "service life reached"),
    "vendor_eos": T("ผู้ผลิตยุติการสนับสนุน", "vendor end of support"),
    "battery_replace_flag": T("UPS แจ้งให้เปลี่ยนแบตเตอรี่", "UPS asks for a new battery"),
    "battery_selftest_failed": T("แบตเตอรี่ไม่ผ่านการทดสอบตัวเอง", "battery failed its self-test"),
    "unknown": T("ไม่ทราบวันเริ่มใช้งาน", "in-service date unknown"),
}
SECTIONS = (
    ("overdue", T("1. ครุภัณฑ์ที่เกินอายุการใช้งานแล้ว", "1. Already past end of life")),
    ("due_in_fy", T("2. ครุภัณฑ์ที่ครบอายุการใช้งานภายในปีงบประมาณ",
                    "2. Reaching end of life within the fiscal year")),
    ("next_fy", T("3. ครุภัณฑ์ที่จะครบอายุในปีงบประมาณถัดไป (ประมาณการ)",
                  "3. Reaching end of life in the next fiscal year (forecast)")),
)


STATUS_TODAY_TEXT: dict[str, T] = {
    "overdue": T("เกินอายุแล้ว", "past end of life"),
    "due_this_fiscal_year": T("ครบอายุในปีงบประมาณนี้", "due this fiscal year"),
    "in_service": T("ใช้งานได้", "in service"),
    "unknown": T("ไม่ทราบ", "unknown"),
}
PRICE_FROM_TEXT: dict[str, T] = {
    "asset": T("ราคาทดแทนของครุภัณฑ์", "asset's own price"),
    "table": T("ตารางราคาอ้างอิง", "price table"),
    "class_default": T("ราคาเริ่มต้นของประเภท", "class default"),
    "none": T("ไม่มีราคา", "no price"),
}
PLACEHOLDER_NOTE = T("* ราคาที่มีเครื่องหมาย * เป็นราคาประมาณการ (placeholder) ยังไม่ใช่ราคามาตรฐาน"
                     "หรือใบเสนอราคา ควรกำหนดราคาใน policies.assets.prices หรือคอลัมน์ราคาทดแทน"
                     "ก่อนใช้ยอดรวม",
                     "* Prices marked * are placeholders, not a quote or a current reference "
                     "price: set policies.assets.prices or the asset's replacement_price "
                     "before using the totals.")


@dataclass(frozen=True)
class Item:
    asset: Asset
    eol: EndOfLife
    #: the section for the report's fiscal year (independent of the run date)
    state: str
    unit_price: float
    price_source: str
    #: asset, table, class_default, none
    price_from: str = "none"
    price_placeholder: bool = True
    price_kva: float | None = None
    #: overdue / due_this_fiscal_year / in_service / unknown on the report date
    status_today: str = "unknown"
    #: ``price_source`` in Thai (``source_th`` of the price line; else as given)
    price_source_th: str = ""


def _cls(asset: Asset) -> str:
    return asset.asset_class if asset.asset_class in CLASS_TEXT else "other"


def collect(assets: list[Asset], config: AssetsConfig, fiscal_year: int, as_of: date
            ) -> list[Item]:
    items = []
    for asset in assets:
        if asset.get("status") == "disposed":
            continue
        eol = end_of_life(asset, config)
        kva = float(asset.get("capacity_kva")) if asset.get("capacity_kva") else None
        price = config.resolve_price(_cls(asset), asset.get("model"), kva,
                                     asset.get("replacement_price_thb") or None)
        items.append(Item(asset, eol, classify(eol.due, fiscal_year),
                          price.unit_price_thb if price else 0.0,
                          price.source if price else "",
                          price.origin if price else "none",
                          price.placeholder if price else True,
                          price.kva if price else None,
                          state_now(eol.due, as_of),
                          (price.source_th or price.source) if price else ""))
    return sorted(items, key=lambda i: (i.asset.get("site"), _cls(i.asset),
                                        i.eol.due or date.max, i.asset.name))


def _date_cell(day: date | None) -> Day | None:
    return Day(day) if day else None


ITEM_COLUMNS = [
    Column("site", "สถานที่", "Site", 1.1), Column("class", "ประเภท", "Class", 2.1),
    Column("tag", "เลขครุภัณฑ์", "Asset tag", 1.4),
    Column("model", "ยี่ห้อ/รุ่น", "Make / model", 1.6), Column("serial", "หมายเลขเครื่อง", "Serial", 1.5),
    Column("start", "วันเริ่มใช้งาน", "In service", 1.3),
    Column("eol", "วันครบอายุ", "End of life", 1.3), Column("fy", "ปีงบฯ", "FY", 0.6, "C"),
    Column("reason", "เหตุผล", "Reason", 1.5), Column("qty", "จำนวน", "Qty", 0.75, "R", "count"),
    Column("unit", "ราคาต่อหน่วย (บาท)", "Unit cost (THB)", 1.2, "R", "money"),
    Column("amount", "จำนวนเงิน (บาท)", "Amount (THB)", 1.2, "R", "money"),
    Column("price_from", "ที่มาของราคา", "Price from", 1.3),
    Column("today", "สถานะ ณ วันที่ออกรายงาน", "Status on the report date", 1.2),
]


def price_from_cell(item: Item) -> T:
    base = PRICE_FROM_TEXT[item.price_from]
    th, en = base.th, base.en
    if item.price_from == "table" and item.price_kva:
        th, en = f"{th} {item.price_kva:g} kVA", f"{en} {item.price_kva:g} kVA"
    if item.price_placeholder:
        th, en = th + " *", en + " *"
    return T(th, en)


def _section_rows(items: list[Item]
                  ) -> tuple[list[dict[str, Cell]], float, int, tuple[int, ...]]:
    rows: list[dict[str, Cell]] = []
    total, count = 0.0, 0
    groups: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        groups.setdefault((item.asset.get("site"), _cls(item.asset)), []).append(item)
    subtotal_rows: list[int] = []
    for (site, cls), members in groups.items():
        first = len(rows)
        for item in members:
            a = item.asset
            make = " ".join(v for v in (a.get("manufacturer"), a.get("model")) if v)
            rows.append({"site": site, "class": CLASS_TEXT[cls], "tag": a.tag or "",
                         "model": make, "serial": a.serial or "",
                         "start": _date_cell(item.eol.started), "eol": _date_cell(item.eol.due),
                         "fy": date_fiscal_year(item.eol.due) if item.eol.due else None,
                         "reason": REASON_TEXT.get(item.eol.reason, T(item.eol.reason,
                                                                      item.eol.reason)),
                         "qty": 1, "unit": item.unit_price, "amount": item.unit_price,
                         "price_from": price_from_cell(item),
                         "today": STATUS_TODAY_TEXT[item.status_today]})
        subtotal = sum(i.unit_price for i in members)
        members_at = tuple(range(first, len(rows)))
        subtotal_rows.append(len(rows))
        rows.append({"site": site, "class": T(f"รวม {CLASS_TEXT[cls].th}",
                                              f"Subtotal {CLASS_TEXT[cls].en}"),
                     "qty": Total(len(members), members_at),
                     "amount": Total(subtotal, members_at)})
        total += subtotal
        count += len(members)
    return rows, total, count, tuple(subtotal_rows)


def build_report(assets: list[Asset], config: Config, fiscal_year: int, as_of: date,
                 generated: float) -> Report:
    items = collect(assets, config.policies.assets, fiscal_year, as_of)
    sections: list[Section] = []
    totals: dict[str, tuple[float, int]] = {}
    for state, title in SECTIONS:
        chosen = [i for i in items if i.state == state]
        rows, total, count, subtotals = _section_rows(chosen)
        if rows:
            rows.append({"site": T("รวมทั้งสิ้น", "Total"), "qty": Total(count, subtotals),
                         "amount": Total(total, subtotals)})
        totals[state] = (total, count)
        sections.append(Section(title, Table(list(ITEM_COLUMNS), rows),
                                notes=[] if rows else [T("ไม่มีรายการ", "None.")]))
    budget_rows: list[dict[str, Cell]] = []
    budget_groups: dict[tuple[str, str, float, bool], int] = {}
    for item in items:
        if item.state in ("overdue", "due_in_fy"):
            key = (item.asset.get("site"), _cls(item.asset), item.unit_price,
                   item.price_placeholder)
            budget_groups[key] = budget_groups.get(key, 0) + 1
    for (site, cls, unit, placeholder), qty in sorted(budget_groups.items()):
        budget_rows.append({"site": site, "class": CLASS_TEXT[cls], "qty": qty, "unit": unit,
                            "amount": unit * qty,
                            "price_from": T("ราคาประมาณการ *", "placeholder *") if placeholder
                            else None})
    budget = totals["overdue"][0] + totals["due_in_fy"][0]
    placeholders = sum(1 for i in items if i.state in ("overdue", "due_in_fy", "next_fy")
                       and i.price_placeholder)
    budget_count = totals["overdue"][1] + totals["due_in_fy"][1]
    lines = tuple(range(len(budget_rows)))
    budget_rows.append({"site": T("รวมงบประมาณที่ขอ", "Budget requested"),
                        "qty": Total(budget_count, lines), "amount": Total(budget, lines)})
    budget_cols = [Column("site", "สถานที่", "Site", 1.5), Column("class", "ประเภท", "Class", 2.5),
                   Column("qty", "จำนวน", "Qty", 0.7, "R", "count"),
                   Column("unit", "ราคาต่อหน่วย (บาท)", "Unit cost (THB)", 1.5, "R", "money"),
                   Column("amount", "จำนวนเงิน (บาท)", "Amount (THB)", 1.5, "R", "money"),
                   Column("price_from", "หมายเหตุราคา", "Price note", 1.3)]
    sections.insert(0, Section(
        T(f"สรุปงบประมาณทดแทน {fiscal_year_label(fiscal_year, 'th')}",
          f"Replacement budget, {fiscal_year_label(fiscal_year, 'en')}"),
        Table(budget_cols, budget_rows),
        notes=[T("รวมรายการที่เกินอายุก่อนเริ่มปีงบประมาณและที่ครบอายุภายในปีงบประมาณ (หัวข้อ 1 และ 2) "
                 "ไม่ขึ้นกับวันที่ออกรายงาน",
                 "Items past end of life before the fiscal year starts and those reaching "
                 "it within the year (sections 1 and 2), whatever the report date.")]
        + ([T(f"{PLACEHOLDER_NOTE.th} ({placeholders} รายการ)",
              f"{PLACEHOLDER_NOTE.en} ({placeholders} line(s))")] if placeholders else [])))
    unknown = [i for i in items if i.state == "unknown"]
    if unknown:
        rows = [{"site": i.asset.get("site"), "class": CLASS_TEXT[_cls(i.asset)],
                 "tag": i.asset.tag or "", "model": i.asset.get("model"),
                 "serial": i.asset.serial or i.asset.ref or ""} for i in unknown]
        sections.append(Section(T("4. ครุภัณฑ์ที่ยังไม่ทราบวันเริ่มใช้งาน (ต้องระบุเพื่อคำนวณ)",
                                  "4. Assets without a known in-service date (fill in to include)"),
                                Table(ITEM_COLUMNS[:5], rows)))
    footnotes = []
    for kind in sorted({_cls(i.asset) for i in items}):
        life = config.policies.assets.life_of(kind)
        footnotes.append(T(f"อายุการใช้งาน {CLASS_TEXT[kind].th}: {life.years:g} ปี "
                           f"({life.source_th or life.source})",
                           f"Service life, {CLASS_TEXT[kind].en}: {life.years:g} years "
                           f"({life.source})"))
    for source_en, source_th in sorted({(i.price_source, i.price_source_th) for i in items
                                        if i.price_source}):
        footnotes.append(T(f"ราคาอ้างอิง: {source_th or source_en}",
                           f"Reference price: {source_en}"))
    for item in items:
        for c in item.asset.conflicts:
            footnotes.append(T(
                f"ข้อมูลไม่ตรงกัน {item.asset.name} {c.field}: ทะเบียน {c.imported!r} / ตรวจพบ {c.discovered!r}",
                f"Conflict on {item.asset.name} {c.field}: register {c.imported!r}, "
                f"seen {c.discovered!r}"))
    summary = [
        Line(T("งบประมาณทดแทนที่ขอ", "Replacement budget requested"),
             T(format_baht(budget, "th"), format_baht(budget, "en"))),
        Line(T("ตัวอักษร", "In words"), T(f"({baht_text(budget)})", "")) if budget else None,
        Line(T("ประมาณการปีงบประมาณถัดไป", "Forecast for the next fiscal year"),
             T(format_baht(totals["next_fy"][0], "th"), format_baht(totals["next_fy"][0], "en"))),
    ]
    return sign_off(Report(
        kind="assets",
        title=T("รายงานครุภัณฑ์ที่ครบอายุการใช้งานและประมาณการงบประมาณทดแทน",
                "Asset end-of-life and replacement budget report"),
        meta=[Line(T("หน่วยงาน", "Office"), config.site),
              Line(T("ปีงบประมาณ", "Fiscal year"), T(f"พ.ศ. {fiscal_year}", f"{fiscal_year} BE")),
              Line(T("ช่วงเวลา", "Period"), T(fiscal_year_period(fiscal_year, "th"),
                                             fiscal_year_period(fiscal_year, "en"))),
              Line(T("ข้อมูล ณ วันที่", "As of"), _date_cell(as_of)),
              Line(T("ออกรายงานเมื่อ", "Generated"), T(format_datetime(generated, "th"),
                                                      format_datetime(generated, "en")))],
        sections=sections, summary=[s for s in summary if s is not None], footnotes=footnotes,
        data={"fiscal_year": fiscal_year, "as_of": as_of.isoformat(), "budget_thb": budget,
              "next_fiscal_year_thb": totals["next_fy"][0],
              "items": [{"asset": i.asset.name, "class": _cls(i.asset),
                         "site": i.asset.get("site"), "state": i.state,
                         "end_of_life": i.eol.due.isoformat() if i.eol.due else None,
                         "reason": i.eol.reason, "unit_price_thb": i.unit_price,
                         "price_from": i.price_from, "price_source": i.price_source,
                         "price_placeholder": i.price_placeholder,
                         "status_today": i.status_today}
                        for i in items]}), config.policies.reports)


def add_report_parser(kinds: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = kinds.add_parser("assets", help="assets reaching end of life, with the "
                                             "replacement budget")
    add_output_args(parser)
    parser.add_argument("--fiscal-year", type=fiscal_year_arg, metavar="BE",
                        help="Buddhist-Era fiscal year, e.g. 2569 (default: the current one)")
    parser.add_argument("--as-of", type=date_arg, metavar="DATE", help="report date (default: today, Bangkok)")
    parser.set_defaults(func=with_config(run))


def run(args: argparse.Namespace, config: Config) -> int:
    import logging
    import time

    # fontTools logs every subset step at INFO; the report's own line says what happened
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    try:
        fmt = output_format(args)
        as_of = parse_date(args.as_of) if args.as_of else today_bangkok()
        fiscal_year = args.fiscal_year or date_fiscal_year(as_of)
        register = AssetRegister(Database(db_path(config)))
        try:
            assets = register.assets()
        finally:
            register.db.close()
        report = build_report(assets, config, fiscal_year, as_of, time.time())
        path = render(report, fmt, args.lang, args.output)
    except (ValueError, StoreError, RenderError) as err:
        raise UsageError(str(err)) from err
    print(f"wrote {path} ({fmt}, {args.lang}, fiscal year {fiscal_year})")
    return EXIT_OK
