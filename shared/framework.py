"""The plan framework (dimensions and sub-dimensions) as versioned data, one file per plan cycle."""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Framework:
    """One version of one plan cycle's framework."""

    id: str
    version: int
    first_fiscal_year: int
    last_fiscal_year: int
    dimensions: dict            # dimension code (int) -> {"name_th", "name_en", "sub_dimensions": {code: {...}}}
    default: bool = False

    @property
    def ref(self) -> str:
        """How events name this framework: ``<id>@<version>``."""
        return f"{self.id}@{self.version}"

    def check(self, dimension: int, sub_dimension: str) -> str | None:
        """None when the pair exists in this framework, else why not."""
        dim = self.dimensions.get(dimension)
        if dim is None:
            return f"dimension {dimension} is not in framework {self.ref} (it has {sorted(self.dimensions)})"
        if sub_dimension not in dim["sub_dimensions"]:
            return (f"sub-dimension {sub_dimension!r} is not in dimension {dimension} of framework "
                    f"{self.ref} (it has {sorted(dim['sub_dimensions'])})")
        return None

    @classmethod
    def from_dict(cls, data: dict) -> "Framework":
        """Build from the file format (see shared/frameworks/*.json); ValueError when malformed."""
        try:
            dimensions = {
                int(d["code"]): {
                    "name_th": d["name_th"], "name_en": d.get("name_en", ""),
                    "sub_dimensions": {s["code"]: {"name_th": s["name_th"], "name_en": s.get("name_en", "")}
                                       for s in d["sub_dimensions"]},
                }
                for d in data["dimensions"]
            }
            fw = cls(str(data["id"]), int(data["version"]), int(data["first_fiscal_year"]),
                     int(data["last_fiscal_year"]), dimensions, bool(data.get("default", False)))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed framework file: {exc!r}") from None
        for code, dim in fw.dimensions.items():
            for sub in dim["sub_dimensions"]:
                if not sub.startswith(f"{code}."):
                    raise ValueError(f"sub-dimension {sub} does not belong to dimension {code}")
        return fw


class FrameworkRegistry:
    """The frameworks known to this process: the shipped ones plus an operator's folder."""

    def __init__(self, frameworks: list[Framework]):
        self._by_ref = {fw.ref: fw for fw in frameworks}
        defaults = [fw for fw in frameworks if fw.default]
        if len(defaults) != 1:
            raise ValueError("exactly one framework must be marked default")
        self.default = defaults[0]

    @classmethod
    def load(cls, extra_dir: str = "") -> "FrameworkRegistry":
        """The shipped frameworks, plus every ``*.json`` in ``extra_dir`` when given."""
        texts = [p.read_text("utf-8") for p in resources.files("shared.frameworks").iterdir()
                 if p.name.endswith(".json")]
        if extra_dir:
            texts += [p.read_text("utf-8") for p in sorted(Path(extra_dir).glob("*.json"))]
        return cls([Framework.from_dict(json.loads(t)) for t in texts])

    def get(self, ref: str) -> Framework | None:
        """A framework by its ``id@version`` reference."""
        return self._by_ref.get(ref)

    def for_cycle(self, first_fiscal_year: int, last_fiscal_year: int) -> Framework:
        """The newest framework made for exactly this cycle, else the default one."""
        own = [fw for fw in self._by_ref.values()
               if (fw.first_fiscal_year, fw.last_fiscal_year) == (first_fiscal_year, last_fiscal_year)]
        return max(own, key=lambda fw: fw.version) if own else self.default
