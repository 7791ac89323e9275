"""The spec IR: pydantic models of a model declaration, and YAML/JSON loading.

A spec is what ``Model.to_spec()`` returns and what spec files hold::

    name: logistic
    data:
      X: {dims: [n, p]}
      y: {dims: [n]}
    params:
      w: {dims: [p], prior: {dist: Normal, args: {loc: 0, scale: 2.5}}}
      b: {}
    observe:
      - {data: y, dist: Bernoulli, args: {logit: "X @ w + b"}}

Expressions are strings parsed by :func:`probfit.spec.parse.parse_expr`. Loading validates the
whole declaration (names, dims, distributions and their arguments, supports) and raises
:class:`~probfit.errors.SpecError` naming the offending field.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from probfit.errors import SpecError

__all__ = ["DataSpec", "DistSpec", "LatentSpec", "ModelSpec", "ObserveSpec", "ParamSpec",
           "load_spec"]

ArgValue = float | str | list[float] | list[list[float]] | list[list[list[float]]]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DistSpec(_Strict):
    """A distribution: its class name and its arguments (numbers or expression text)."""

    dist: str
    args: dict[str, ArgValue] = Field(default_factory=dict)


class DataSpec(_Strict):
    """A data variable: its named dims and whether its values must be integers."""

    dims: tuple[str, ...] = ()
    kind: Literal["real", "integer"] = "real"


class ParamSpec(_Strict):
    """A parameter: dims, optional prior, support (default: the prior's, else real), init."""

    dims: tuple[str, ...] = ()
    prior: DistSpec | None = None
    support: Literal["real", "positive", "unit_interval", "simplex", "spd"] | None = None
    lower: float | None = None
    upper: float | None = None
    init: float | list[float] | None = None


class LatentSpec(_Strict):
    """A discrete latent variable: its dims (the rows) and its distribution."""

    dims: tuple[str, ...] = ()
    dist: str
    args: dict[str, ArgValue] = Field(default_factory=dict)


class ObserveSpec(_Strict):
    """An observed data variable and its likelihood."""

    data: str
    dist: str
    args: dict[str, ArgValue] = Field(default_factory=dict)


class ModelSpec(_Strict):
    """A whole model declaration; validated by building it."""

    name: str
    data: dict[str, DataSpec] = Field(default_factory=dict)
    params: dict[str, ParamSpec] = Field(default_factory=dict)
    latents: dict[str, LatentSpec] = Field(default_factory=dict)
    observe: list[ObserveSpec]

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        from probfit.dsl.model import Model

        Model.from_spec(self)
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (for YAML/JSON), omitting defaults."""
        return self.model_dump(mode="json", exclude_defaults=True)

    def to_yaml(self) -> str:
        """YAML text that :func:`load_spec` reads back to an equal spec."""
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


class _UniqueKeyLoader(yaml.SafeLoader):
    """A YAML loader that refuses duplicate keys (a parameter named twice)."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False):
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise SpecError(f"{key!r} is declared twice (line {key_node.start_mark.line + 1})")
        seen.add(key)
    return yaml.SafeLoader.construct_mapping(loader, node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
                                 _construct_mapping)


def _format_error(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"])
        msg = e["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {msg}" if loc else msg)
    return "; ".join(lines)


def load_spec(source: str | Path | dict[str, Any] | ModelSpec) -> ModelSpec:
    """Load and validate a spec from a path (``.yaml``/``.yml``/``.json``), a dict, or a spec.

    Raises
    ------
    SpecError
        If the file cannot be read or parsed, or the declaration is invalid.
    """
    if isinstance(source, ModelSpec):
        return source
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise SpecError(f"spec file {str(path)!r} does not exist")
        text = path.read_text()
        try:
            if path.suffix == ".json":
                def _hook(pairs):
                    keys = [k for k, _ in pairs]
                    dup = {k for k in keys if keys.count(k) > 1}
                    if dup:
                        raise SpecError(f"{sorted(dup)[0]!r} is declared twice in {path.name}")
                    return dict(pairs)
                raw = json.loads(text, object_pairs_hook=_hook)
            else:
                raw = yaml.load(text, Loader=_UniqueKeyLoader)
        except (yaml.YAMLError, json.JSONDecodeError) as err:
            raise SpecError(f"cannot parse spec file {path.name}: {err}") from None
        source = raw
    if not isinstance(source, dict):
        raise SpecError(f"a spec must be a mapping, got {type(source).__name__}")
    try:
        return ModelSpec.model_validate(source)
    except ValidationError as err:
        raise SpecError(_format_error(err)) from None
