"""``policies.assets:``: the asset register, service-life policy and reference prices.

Service-life defaults are *assumptions with sources*, not Thai rules: the Comptroller
General's depreciation table could not be verified (docs/reports.md, asset end-of-life), so
every class carries a note saying where its number comes from and the office's
finance / supplies unit is expected to confirm or override it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import Field, model_validator

from upkeep.config.base import StrictModel

AssetClass = Literal["ups", "ups_battery", "server", "pc", "notebook", "network", "other"]
ASSET_CLASSES: tuple[str, ...] = ("ups", "ups_battery", "server", "pc", "notebook", "network",
                                  "other")


class ServiceLife(StrictModel):
    years: Annotated[float, Field(gt=0, le=50)]
    source: str = ""
    #: the source in Thai for Thai reports (default: ``source`` as given)
    source_th: str = ""


class ReferencePrice(StrictModel):
    #: asset class the price applies to
    asset_class: AssetClass = Field(alias="class")
    #: a model name (case-insensitive exact match); None = the class's default price
    model: str | None = None
    #: capacity in kVA (UPS): the line applies to units up to this size that have no
    #: smaller line of their own
    kva: Annotated[float, Field(gt=0, le=10_000)] | None = None
    unit_price_thb: Annotated[float, Field(ge=0)]
    source: str = ""
    #: the source in Thai for Thai reports (default: ``source`` as given)
    source_th: str = ""
    #: an indicative figure, not a quote: the report marks every line priced from it
    placeholder: bool = False

    model_config = StrictModel.model_config | {"populate_by_name": True}


_TO_CONFIRM = ("default, to be confirmed by the office's finance / supplies unit",
               "ค่าเริ่มต้น รอยืนยันจากงานการเงินและพัสดุของสำนักงาน")


def _life(years: float, en: str, th: str) -> ServiceLife:
    return ServiceLife(years=years, source=f"{en}; {_TO_CONFIRM[0]}",
                       source_th=f"{th}; {_TO_CONFIRM[1]}")


DEFAULT_LIFE: dict[str, ServiceLife] = {
    "ups_battery": _life(3, "VRLA 5-year design life is replaced in year 3-4 at 20-25 °C "
                         "(powercontinuity.co.uk; gridshieldcsi.com)",
                         "แบตเตอรี่ VRLA อายุออกแบบ 5 ปี มักต้องเปลี่ยนในปีที่ 3-4 ที่อุณหภูมิ 20-25 °C "
                         "(powercontinuity.co.uk; gridshieldcsi.com)"),
    "ups": _life(10, "UPS unit useful life about 10-12 years (power-solutions.com)",
                 "เครื่องสำรองไฟฟ้ามีอายุใช้งานประมาณ 10-12 ปี (power-solutions.com)"),
    "server": _life(5, "industry convention, no primary source",
                    "ตามแนวปฏิบัติทั่วไป ไม่มีแหล่งอ้างอิงปฐมภูมิ"),
    "pc": _life(5, "PCs run 3-5 years (techmonitor.ai; channelinsider.com)",
                "เครื่องคอมพิวเตอร์ใช้งานได้ 3-5 ปี (techmonitor.ai; channelinsider.com)"),
    "notebook": _life(5, "as PC", "เช่นเดียวกับเครื่องคอมพิวเตอร์"),
    "network": _life(7, "assumption", "สมมติฐาน"),
    "other": _life(5, "assumption", "สมมติฐาน"),
}

_MDES = ("indicative figure in the style of the MDES ICT reference-price criteria "
         "(เกณฑ์ราคากลางและคุณลักษณะพื้นฐานการจัดหาอุปกรณ์และระบบคอมพิวเตอร์); check the current edition",
         "ราคาประมาณการตามแนวเกณฑ์ราคากลางและคุณลักษณะพื้นฐานการจัดหาอุปกรณ์และระบบคอมพิวเตอร์ "
         "ของกระทรวงดิจิทัลเพื่อเศรษฐกิจและสังคม ควรตรวจสอบกับฉบับปัจจุบัน")


def _price(asset_class: str, unit_price_thb: float, source: tuple[str, str],
           kva: float | None = None) -> ReferencePrice:
    return ReferencePrice.model_validate({"class": asset_class, "unit_price_thb": unit_price_thb,
                                          "source": source[0], "source_th": source[1],
                                          "kva": kva, "placeholder": True})


def _mdes(en: str, th: str) -> tuple[str, str]:
    return f"{en}; {_MDES[0]}", f"{th}; {_MDES[1]}"


#: every shipped price is a placeholder: the report flags each line priced from one
DEFAULT_PRICES: list[ReferencePrice] = [
    _price("ups", 5_800, _mdes("UPS of unknown capacity, priced as 1 kVA",
                               "เครื่องสำรองไฟฟ้าไม่ทราบขนาด คิดราคาเท่าขนาด 1 kVA")),
    _price("ups", 5_800, _mdes("UPS 1 kVA", "เครื่องสำรองไฟฟ้า 1 kVA"), kva=1),
    _price("ups", 15_000, _mdes("UPS 2 kVA", "เครื่องสำรองไฟฟ้า 2 kVA"), kva=2),
    _price("ups", 27_000, _mdes("UPS 3 kVA", "เครื่องสำรองไฟฟ้า 3 kVA"), kva=3),
    _price("ups", 60_000, _mdes("UPS 6 kVA", "เครื่องสำรองไฟฟ้า 6 kVA"), kva=6),
    _price("ups", 110_000, _mdes("UPS 10 kVA", "เครื่องสำรองไฟฟ้า 10 kVA"), kva=10),
    _price("ups_battery", 1_500, ("12 V 9 Ah VRLA battery set, market price; to be confirmed",
                                  "แบตเตอรี่ VRLA 12 V 9 Ah ราคาตลาด รอยืนยัน")),
    _price("server", 120_000, ("เครื่องคอมพิวเตอร์แม่ข่าย แบบที่ 1 (MDES 2557 edition); check the current edition",
                               "เครื่องคอมพิวเตอร์แม่ข่าย แบบที่ 1 (เกณฑ์ราคากลางฯ ฉบับ พ.ศ. 2557) "
                               "ควรตรวจสอบกับฉบับปัจจุบัน")),
    _price("pc", 22_000, _mdes("เครื่องคอมพิวเตอร์สำหรับงานประมวลผล แบบที่ 1",
                               "เครื่องคอมพิวเตอร์สำหรับงานประมวลผล แบบที่ 1")),
    _price("notebook", 24_000, _mdes("เครื่องคอมพิวเตอร์โน้ตบุ๊ก สำหรับงานประมวลผล",
                                     "เครื่องคอมพิวเตอร์โน้ตบุ๊ก สำหรับงานประมวลผล")),
    _price("network", 30_000, ("assumption", "สมมติฐาน")),
    _price("other", 0, ("no reference price", "ไม่มีราคาอ้างอิง")),
]


class AssetsConfig(StrictModel):
    #: learn assets from UPS and host readings (matched by serial)
    discovery: bool = True
    #: class given to the host this agent runs on
    host_class: AssetClass = "server"
    #: where DMI identity is read (vendor, product, serial) on Linux
    dmi_dir: str = "/sys/class/dmi/id"
    #: service life per class; classes not given keep the default
    life: dict[AssetClass, ServiceLife] = {}
    #: reference replacement prices; entries given here win over the defaults
    prices: list[ReferencePrice] = []

    @model_validator(mode="after")
    def _unique_prices(self) -> AssetsConfig:
        seen: set[tuple[str, str | None, float | None]] = set()
        for price in self.prices:
            if price.model and price.kva:
                raise ValueError(f"prices: {price.asset_class} {price.model}: give a model or "
                                 "a kva, not both")
            key = (price.asset_class, price.model.lower() if price.model else None, price.kva)
            if key in seen:
                what = key[1] or (f"{key[2]:g} kVA" if key[2] else "(default)")
                raise ValueError(f"prices: {key[0]} {what} given twice")
            seen.add(key)
        return self

    def life_of(self, asset_class: str) -> ServiceLife:
        return self.life.get(asset_class, DEFAULT_LIFE.get(asset_class)  # type: ignore[call-overload]
                             ) or DEFAULT_LIFE["other"]

    def resolve_price(self, asset_class: str, model: str | None, kva: float | None,
                      asset_price: str | float | None) -> ResolvedPrice | None:
        """The replacement price of one asset and where it came from.

        The asset's own replacement price (an import column) wins; then the price table
        (the office's lines before the shipped ones): a model line, else the smallest
        capacity line that carries ``kva``, else the class default. A UPS bigger than every
        line of the table falls to the class default and is flagged as a placeholder."""
        if asset_price is not None and asset_price != "":
            return ResolvedPrice(float(asset_price), "asset", "", False)
        all_lines = [p for p in (*self.prices, *DEFAULT_PRICES) if p.asset_class == asset_class]
        too_big = bool(kva) and not any(p.kva and p.kva >= (kva or 0) - 1e-9 for p in all_lines)
        wanted = (model or "").strip().lower()
        for table in (self.prices, DEFAULT_PRICES):
            lines = [p for p in table if p.asset_class == asset_class]
            if wanted:
                for price in lines:
                    if (price.model or "").lower() == wanted:
                        return ResolvedPrice(price.unit_price_thb, "table", price.source,
                                             price.placeholder, model=price.model,
                                             source_th=price.source_th)
            if kva:
                fitting = sorted((p for p in lines if p.kva and p.kva >= kva - 1e-9),
                                 key=lambda p: p.kva or 0)
                if fitting:
                    best = fitting[0]
                    return ResolvedPrice(best.unit_price_thb, "table", best.source,
                                         best.placeholder, kva=best.kva,
                                         source_th=best.source_th)
            for price in lines:
                if price.model is None and price.kva is None:
                    return ResolvedPrice(price.unit_price_thb, "class_default", price.source,
                                         price.placeholder or too_big, source_th=price.source_th)
        return None


@dataclass(frozen=True)
class ResolvedPrice:
    unit_price_thb: float
    #: asset (its own replacement price), table (a model or capacity line), class_default
    origin: str
    source: str
    placeholder: bool
    model: str | None = None
    kva: float | None = None
    source_th: str = ""
