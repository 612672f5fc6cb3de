"""Convert a JSON Schema into a GBNF grammar whose every string is valid JSON for it.

The output format follows llama-cpp-python's converter so grammars compare
equal where it matters: one ``name ::= body`` line per rule, sorted by name;
rule names derived from property paths (``<parent>-<prop>``, ``<prop>-kv``,
``-item``, ``-tuple-<i>``, ``-additional-kv``); a ``space`` rule (at most one
space) between tokens; numbers with at most 16 digits per part.

What each keyword does is listed in ``docs/grammar.md``; in short:

* supported: ``type`` (one or a list), ``enum``, ``const``, ``anyOf``,
  ``oneOf`` (as anyOf), ``allOf`` (members merged), local ``$ref`` into
  ``$defs``/``definitions``/any JSON pointer (recursion allowed),
  ``properties`` with ``required`` (required first, in schema order, then the
  optional ones), ``additionalProperties``, ``minProperties``, ``items``,
  ``prefixItems``, ``minItems``/``maxItems``, ``minLength``/``maxLength``,
  ``pattern``, ``format`` (date, time, date-time, uuid), and
  ``minimum``/``maximum``/``exclusiveMinimum``/``exclusiveMaximum`` for
  integers (exact) and for numbers (whole-number bounds; other bounds are
  rounded inward);
* ignored, as the reference ignores them: ``multipleOf``, ``uniqueItems``,
  ``contains``, ``not``, ``if``/``then``/``else``, ``patternProperties``,
  other formats, and annotations (``title``, ``description``, ...);
* rejected with ``SchemaError``: remote ``$ref``, unknown types,
  unsupported or unanchored patterns, ``dependentRequired``,
  ``dependentSchemas``, ``dependencies``, ``propertyNames`` and
  ``maxProperties`` where they could be violated, and unsatisfiable schemas.
"""

from __future__ import annotations

import json
import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Set, Tuple, Union
from urllib.parse import unquote

from .numeric import integer_range, number_range
from .regex import PatternError, pattern_to_gbnf
from .schema_rules import (
    _ANNOTATIONS,
    _BUILTIN_NAMES,
    _FORMAT_RULE,
    _LOWER_BOUNDS,
    _NUMBER_BOUNDS,
    _PRIMITIVE_TYPES,
    _REJECTED,
    _UPPER_BOUNDS,
    INVALID_RULE_CHARS_RE,
    PRIMITIVE_RULES,
    RESERVED_NAMES,
    SPACE_RULE,
    STRING_FORMAT_RULES,
    SchemaError,
    _as_int,
    _is_number,
    _json_literal,
    _literal,
    _repeat_with_separator,
    _type_matches,
)

__all__ = ["SchemaError", "SchemaConverter", "json_schema_to_gbnf"]


class SchemaConverter:
    """Builds grammar rules from schemas; ``format_grammar`` prints them.

    ``prop_order`` names properties that go first (a list, or a mapping from
    name to rank); ``dotall`` lets ``.`` in patterns match line breaks;
    ``raw_pattern`` emits patterns without surrounding JSON quotes.
    ``allow_fetch`` is accepted for compatibility; remote ``$ref`` targets are
    never fetched.
    """

    def __init__(self, *, prop_order: Optional[Union[Mapping[str, int], Sequence[str]]] = None,
                 allow_fetch: bool = False, dotall: bool = False, raw_pattern: bool = False) -> None:
        if prop_order is None:
            order: Dict[str, int] = {}
        elif isinstance(prop_order, Mapping):
            order = dict(prop_order)
        else:
            order = {name: rank for rank, name in enumerate(prop_order)}
        self._prop_order = order
        self._allow_fetch = allow_fetch
        self._dotall = dotall
        self._raw_pattern = raw_pattern
        self._rules: Dict[str, str] = {"space": SPACE_RULE}
        self._claimed: Set[str] = set()  # names promised to a $ref target before its body exists
        self._ref_rules: Dict[str, str] = {}
        self._document: Any = None
        self._merging: Set[str] = set()

    # ----- rules -----------------------------------------------------------------

    def _add_rule(self, name: str, rule: str) -> str:
        """Define ``name ::= rule`` (renamed with a number on a clash); returns the name used."""
        base = INVALID_RULE_CHARS_RE.sub("-", name)
        candidate = base
        suffix = 0
        while True:
            existing = self._rules.get(candidate)
            if existing == rule:
                return candidate
            if existing is None and candidate not in self._claimed and candidate not in _BUILTIN_NAMES:
                self._rules[candidate] = rule
                return candidate
            candidate = f"{base}{suffix}"
            suffix += 1

    def _claim(self, name: str) -> str:
        base = INVALID_RULE_CHARS_RE.sub("-", name)
        if base in RESERVED_NAMES:
            base += "-"
        candidate = base
        suffix = 0
        while candidate in self._rules or candidate in self._claimed:
            candidate = f"{base}{suffix}"
            suffix += 1
        self._claimed.add(candidate)
        return candidate

    def _add_builtin(self, name: str) -> str:
        rule = PRIMITIVE_RULES.get(name) or STRING_FORMAT_RULES[name]
        self._rules[name] = rule.content
        for dep in rule.deps:
            if dep not in self._rules:
                self._add_builtin(dep)
        return name

    def _emit(self, rule_name: str, body: str, exact: bool) -> str:
        if exact:
            self._rules[rule_name] = body
            return rule_name
        return self._add_rule(rule_name, body)

    def format_grammar(self) -> str:
        """The grammar: one ``name ::= body`` line per rule, sorted by name."""
        return "\n".join(f"{name} ::= {body}" for name, body in sorted(self._rules.items()))

    # ----- references ------------------------------------------------------------

    def resolve_refs(self, schema: Any, url: str) -> Any:
        """Record ``schema`` as the document ``$ref``s point into and check every reference.

        Args:
            schema: The whole schema document.
            url: The document's name, for messages.

        Returns:
            The schema, unchanged.

        Raises:
            SchemaError: A reference is remote or points nowhere.
        """
        self._document = schema
        self._check_refs(schema, url, set())
        return schema

    def _check_refs(self, node: Any, url: str, seen: Set[int]) -> None:
        if id(node) in seen:
            return
        if isinstance(node, dict):
            seen.add(id(node))
            ref = node.get("$ref")
            if isinstance(ref, str):
                self._lookup(ref)
            for key, value in node.items():
                if key not in ("const", "enum", "default", "examples", "example"):
                    self._check_refs(value, url, seen)
        elif isinstance(node, list):
            seen.add(id(node))
            for value in node:
                self._check_refs(value, url, seen)

    def _lookup(self, ref: Any) -> Any:
        if not isinstance(ref, str):
            raise SchemaError(f"$ref must be a string, got {ref!r}")
        if ref.startswith(("http://", "https://")):
            raise SchemaError(f"remote $ref {ref!r} is not supported (nothing is fetched); copy the referenced "
                              "schema into $defs and point to it with '#/$defs/...'")
        if not ref.startswith("#"):
            raise SchemaError(f"Unsupported ref {ref!r}: only local references ('#/$defs/Name') are supported")
        target = self._document
        if ref in ("#", "#/"):
            return target
        if not ref.startswith("#/"):
            raise SchemaError(f"Unsupported ref {ref!r}: anchors are not supported; use a JSON pointer '#/...'")
        for raw in ref[2:].split("/"):
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(target, dict) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                raise SchemaError(f"$ref {ref!r} points to nothing in the schema (no {part!r} there)")
        return target

    def _ref_rule(self, ref: str) -> str:
        """The rule for a reference target, defining it on first use (recursion-safe)."""
        if ref in self._ref_rules:
            return self._ref_rules[ref]
        target = self._lookup(ref)
        if ref in ("#", "#/"):
            name = "root"
            self._ref_rules[ref] = name
            if "root" not in self._rules:
                # the document itself is being converted into "root" right now
                return name
            return name
        last = unquote(ref.rstrip("/").split("/")[-1]).replace("~1", "/").replace("~0", "~")
        name = self._claim(last or "ref")
        self._ref_rules[ref] = name
        self._visit(target, name, exact=True)
        self._claimed.discard(name)
        return name

    # ----- visiting --------------------------------------------------------------

    def visit(self, schema: Any, name: str) -> str:
        """Add the rules for ``schema`` and return the rule (or builtin) name to reference.

        ``name`` is the path-derived rule name; ``""`` means the top level,
        whose rule is ``root``.
        """
        if self._document is None:
            self._document = schema
        return self._visit(schema, name, exact=False)

    def _rule_name(self, name: str) -> str:
        if not name:
            return "root"
        name = INVALID_RULE_CHARS_RE.sub("-", name)
        return name + "-" if name in RESERVED_NAMES else name

    def _visit(self, schema: Any, name: str, exact: bool) -> str:
        rule_name = name if exact else self._rule_name(name)
        top = not name and not exact
        if schema is True:
            schema = {}
        if schema is False:
            raise SchemaError("the schema 'false' accepts no value, so nothing can be generated")
        if not isinstance(schema, dict):
            raise SchemaError(f"a schema must be a JSON object or a boolean, got {schema!r}")
        for keyword in _REJECTED:
            if keyword in schema:
                raise SchemaError(f"'{keyword}' is not supported by the JSON-schema-to-grammar converter; "
                                  "remove it or restructure the schema with anyOf")

        def prefixed(suffix: str) -> str:
            return f"{name}-{suffix}" if name else suffix

        if "$ref" in schema:
            return self._emit(rule_name, self._ref_rule(schema["$ref"]), exact)

        for keyword in ("oneOf", "anyOf"):
            if keyword in schema:
                branches = schema[keyword]
                if not isinstance(branches, list) or not branches:
                    raise SchemaError(f"'{keyword}' must be a non-empty list of schemas")
                rest = {k: v for k, v in schema.items() if k not in (keyword, "oneOf", "anyOf")}
                alternatives = [self._visit(self._with_parent(rest, branch), prefixed(str(i)), False)
                                for i, branch in enumerate(branches)]
                return self._emit(rule_name, " | ".join(alternatives), exact)

        if "allOf" in schema:
            return self._visit(self._merge_all_of(schema), name, exact)

        schema_type = schema.get("type")
        if "const" in schema:
            return self._emit(rule_name, _json_literal(schema["const"]), exact)
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                raise SchemaError("'enum' must be a non-empty list")
            types = [schema_type] if isinstance(schema_type, str) else schema_type
            if isinstance(types, list):
                values = [v for v in values if any(_type_matches(v, t) for t in types)]
                if not values:
                    raise SchemaError(f"no value of 'enum' has the schema's type {schema_type!r}")
            return self._emit(rule_name, " | ".join(_json_literal(v) for v in values), exact)

        if isinstance(schema_type, list):
            if not schema_type:
                raise SchemaError("'type' must not be an empty list")
            alternatives = [self._visit({**schema, "type": t}, prefixed(str(i)), False)
                            for i, t in enumerate(schema_type)]
            return self._emit(rule_name, " | ".join(alternatives), exact)
        if schema_type is not None and schema_type not in _PRIMITIVE_TYPES:
            raise SchemaError(f"Unrecognized schema: unknown type {schema_type!r} in {schema!r}")

        additional = schema.get("additionalProperties")
        if schema_type in (None, "object") and (
                "properties" in schema or ("additionalProperties" in schema and additional is not True)
                or "required" in schema or "minProperties" in schema):
            return self._emit(rule_name, self._object_body(schema, name), exact)

        if schema_type in (None, "array") and ("items" in schema or "prefixItems" in schema or (
                schema_type == "array" and ("minItems" in schema or "maxItems" in schema))):
            return self._emit(rule_name, self._array_body(schema, name), exact)

        if schema_type in (None, "string") and "pattern" in schema:
            return self._emit(rule_name, self._pattern_body(schema["pattern"]), exact)

        if schema_type in (None, "string") and schema.get("format") in _FORMAT_RULE:
            builtin = self._add_builtin(_FORMAT_RULE[schema["format"]])
            return self._emit(rule_name, builtin, True) if (exact or top) else builtin

        # without a type, length or range keywords still say which kind of value to write
        if schema_type is None and ("minLength" in schema or "maxLength" in schema):
            schema_type = "string"
        elif schema_type is None and any(k in schema for k in _NUMBER_BOUNDS):
            schema_type = "number"

        if schema_type == "string" and ("minLength" in schema or "maxLength" in schema):
            lo = _as_int(schema.get("minLength", 0), "minLength")
            hi = schema.get("maxLength")
            hi = None if hi is None else _as_int(hi, "maxLength")
            if hi is not None and hi < lo:
                raise SchemaError(f"maxLength {hi} is below minLength {lo}; no string fits")
            self._add_builtin("char")
            inner = _repeat_with_separator("char", lo, hi, None)
            body = '"\\"" ' + (inner + " " if inner else "") + '"\\"" space'
            return self._emit(rule_name, body, exact)

        if schema_type in ("integer", "number") and any(k in schema for k in _NUMBER_BOUNDS):
            body = self._bounded_number(schema, schema_type == "integer") + " space"
            return self._emit(rule_name, body, exact)

        if schema_type is None:
            builtin = self._add_builtin("value")
        else:
            builtin = self._add_builtin(schema_type)
        return self._emit(rule_name, builtin, True) if (exact or top) else builtin

    def _with_parent(self, parent: Dict[str, Any], branch: Any) -> Any:
        """A branch of anyOf/oneOf with its parent's constraints folded in."""
        if not any(k not in _ANNOTATIONS for k in parent):
            return branch
        return self._merge([parent, branch])

    def _merge_all_of(self, schema: Dict[str, Any]) -> Dict[str, Any]:
        members = schema["allOf"]
        if not isinstance(members, list) or not members:
            raise SchemaError("'allOf' must be a non-empty list of schemas")
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return self._merge([rest] + list(members))

    def _merge(self, members: List[Any]) -> Dict[str, Any]:
        """One schema for several that must all hold (properties and required are combined)."""
        merged: Dict[str, Any] = {}
        closures: List[Tuple[Set[str], Any]] = []
        for member in members:
            entered: List[str] = []
            try:
                while isinstance(member, dict) and "$ref" in member:
                    ref = member["$ref"]
                    if ref in self._merging:
                        raise SchemaError(f"$ref {ref!r} refers to itself through allOf; the schema has no "
                                          "finite form")
                    self._merging.add(ref)
                    entered.append(ref)
                    member = self._lookup(ref)
                if member is True:
                    continue
                if member is False or not isinstance(member, dict):
                    raise SchemaError(f"allOf member {member!r} cannot be combined")
                if "allOf" in member:
                    member = self._merge_all_of(member)
            finally:
                for ref in entered:
                    self._merging.discard(ref)
            if len(members) > 1 and "additionalProperties" in member:
                closures.append((set(member.get("properties") or {}), member["additionalProperties"]))
            for key, value in member.items():
                if key == "properties" and isinstance(merged.get(key), dict):
                    combined = dict(merged[key])
                    for prop, sub in value.items():
                        combined[prop] = self._merge([combined[prop], sub]) if prop in combined else sub
                    merged[key] = combined
                elif key == "required" and isinstance(merged.get(key), list):
                    merged[key] = merged[key] + [r for r in value if r not in merged[key]]
                elif key in _LOWER_BOUNDS and _is_number(merged.get(key)) and _is_number(value):
                    merged[key] = max(merged[key], value)
                elif key in _UPPER_BOUNDS and _is_number(merged.get(key)) and _is_number(value):
                    merged[key] = min(merged[key], value)
                elif key == "additionalProperties" and key in merged:
                    if value is False or merged[key] is False:
                        merged[key] = False
                    elif isinstance(value, dict) and isinstance(merged[key], dict):
                        merged[key] = self._merge([merged[key], value])
                    elif isinstance(value, dict):
                        merged[key] = value
                else:
                    merged[key] = value
        # a member's additionalProperties constrains the properties its own "properties" does not list
        for declared, extra in closures:
            properties = dict(merged.get("properties") or {})
            for prop in list(properties):
                if prop in declared:
                    continue
                if extra is False:
                    if prop in (merged.get("required") or []):
                        raise SchemaError(f"property {prop!r} is required by one allOf member but forbidden by "
                                          "another's additionalProperties: false")
                    del properties[prop]
                elif isinstance(extra, dict):
                    properties[prop] = self._merge([properties[prop], extra])
            merged["properties"] = properties
        return merged

    # ----- objects ---------------------------------------------------------------

    def _object_body(self, schema: Dict[str, Any], name: str) -> str:
        properties = schema.get("properties") or {}
        if not isinstance(properties, dict):
            raise SchemaError("'properties' must be an object mapping names to schemas")
        required_list = schema.get("required") or []
        if not isinstance(required_list, list):
            raise SchemaError("'required' must be a list of property names")
        additional = schema.get("additionalProperties")
        properties = dict(properties)
        for prop in required_list:
            if prop not in properties:
                if additional is False:
                    raise SchemaError(f"property {prop!r} is required but not allowed (it is missing from "
                                      "'properties' and additionalProperties is false)")
                properties[prop] = additional if isinstance(additional, dict) else {}
        ranked = sorted(enumerate(properties),
                        key=lambda pair: (self._prop_order.get(pair[1], len(self._prop_order)), pair[0]))
        order = [prop for _, prop in ranked]
        required = [p for p in order if p in required_list]
        optional = [p for p in order if p not in required_list]
        allows_additional = additional is True or isinstance(additional, dict)
        if "propertyNames" in schema and allows_additional:
            raise SchemaError("'propertyNames' is not supported together with additionalProperties; "
                              "list the allowed names under 'properties' instead")
        # extra (additionalProperties) pairs: how many at least / at most
        extra_min, extra_max = 0, (None if allows_additional else 0)
        max_props = schema.get("maxProperties")
        if max_props is not None:
            limit = _as_int(max_props, "maxProperties")
            if len(required) > limit:
                raise SchemaError(f"maxProperties {limit} is below the {len(required)} required properties")
            if len(order) > limit:
                raise SchemaError(f"'maxProperties' ({limit}) is not supported when more declared properties "
                                  f"({len(order)}) could be generated; make some of them absent or required")
            if extra_max is None:
                extra_max = limit - len(order)
        min_props = schema.get("minProperties")
        if min_props is not None:
            need = _as_int(min_props, "minProperties") - len(required)
            promote = optional[:max(need, 0)]
            required = [p for p in order if p in required_list or p in promote]
            optional = [p for p in optional if p not in promote]
            extra_min = max(need - len(promote), 0)
            if extra_min and (extra_max is not None and extra_min > extra_max):
                raise SchemaError(f"minProperties {min_props} cannot be met: not enough properties are allowed")

        def kv_rule(prop: str, prop_schema: Any) -> str:
            path = f"{name}-{prop}" if name else (prop or "empty")
            value = self._visit(prop_schema, path, False)
            return self._add_rule(f"{path}-kv", f'{_literal(json.dumps(prop))} space ":" space {value}')

        kv = {prop: kv_rule(prop, properties[prop]) for prop in order}
        head = [kv[p] for p in required]
        tail_items: List[Tuple[str, str]] = [(p, kv[p]) for p in optional]
        if extra_max is None or extra_max > 0:
            path = f"{name}-additional" if name else "additional"
            value = self._visit(additional if isinstance(additional, dict) else {}, path, False)
            self._add_builtin("string")
            pair = self._add_rule(f"{path}-kv", f'string ":" space {value}')
            low = max(extra_min, 1)
            pairs = self._add_rule(f"{path}-kvs", _repeat_with_separator(
                pair, low, extra_max, '"," space', lambda body: self._add_rule(f"{path}-kv-list", body)))
            if extra_min > 0:
                head.append(pairs)
            else:
                tail_items.append(("additional", pairs))

        body = '"{" space'
        if head:
            body += " " + ' "," space '.join(head)
        if tail_items:
            alternatives = self._optional_chain(tail_items, name)
            if head:
                body += f' ( "," space ( {alternatives} ) )?'
            else:
                body += f" ( {alternatives} )?"
        return body + ' "}" space'

    def _optional_chain(self, items: List[Tuple[str, str]], name: str) -> str:
        """Alternatives for any in-order subset (non-empty) of ``items``.

        Alternative i starts with item i; ``<item>-rest`` rules then allow each
        later item, optionally, each after a comma.
        """
        rests: List[str] = [""] * len(items)
        following = ""
        for index in range(len(items) - 1, 0, -1):
            prop, rule = items[index]
            body = f'( "," space {rule} )?' + (f" {following}" if following else "")
            prev_prop = items[index - 1][0]
            following = self._add_rule(f"{name}-{prev_prop}-rest" if name else f"{prev_prop}-rest", body)
            rests[index - 1] = following
        return " | ".join(rule + (f" {rests[i]}" if rests[i] else "") for i, (_, rule) in enumerate(items))

    # ----- arrays ----------------------------------------------------------------

    def _array_body(self, schema: Dict[str, Any], name: str) -> str:
        items = schema.get("items", True)
        prefix = schema.get("prefixItems")
        if isinstance(items, list):
            prefix, items = items, schema.get("additionalItems", False)
        lo = _as_int(schema.get("minItems", 0), "minItems")
        hi_raw = schema.get("maxItems")
        hi = None if hi_raw is None else _as_int(hi_raw, "maxItems")
        if hi is not None and hi < lo:
            raise SchemaError(f"maxItems {hi} is below minItems {lo}; no array fits")
        if prefix is not None:
            if not isinstance(prefix, list):
                raise SchemaError("'prefixItems' must be a list of schemas")
            if hi is not None and hi < len(prefix):
                prefix = prefix[:hi]
            rules = [self._visit(sub, f"{name}-tuple-{i}" if name else f"tuple-{i}", False)
                     for i, sub in enumerate(prefix)]
            body = '"[" space ' + ' "," space '.join(rules)
            if lo > len(prefix) and items is not False:
                extra = self._visit(items, f"{name}-item" if name else "item", False)
                body += "".join(f' "," space {extra}' for _ in range(lo - len(prefix)))
            elif lo > len(prefix):
                raise SchemaError(f"minItems {lo} needs more items than the {len(prefix)} the tuple allows")
            return body + (" " if rules else "") + '"]" space'
        if items is False:
            if lo > 0:
                raise SchemaError("'items' is false, so the array must be empty, but minItems > 0")
            return '"[" space "]" space'
        item = self._visit(items, f"{name}-item" if name else "item", False)
        inner = _repeat_with_separator(item, lo, hi, '"," space',
                                       lambda body: self._add_rule(f"{name}-items" if name else "items", body))
        return '"[" space ' + (inner + " " if inner else "") + '"]" space'

    # ----- strings and numbers ---------------------------------------------------

    def _pattern_body(self, pattern: Any) -> str:
        try:
            expression = pattern_to_gbnf(pattern, json_string=not self._raw_pattern, dotall=self._dotall)
        except PatternError as exc:
            raise SchemaError(str(exc)) from exc
        if self._raw_pattern:
            return expression or '""'
        inner = f"({expression}) " if expression else ""
        return f'"\\"" {inner}"\\"" space'

    def _bounded_number(self, schema: Dict[str, Any], integer: bool) -> str:
        lo, lo_excl = self._bound(schema, "minimum", "exclusiveMinimum", low=True)
        hi, hi_excl = self._bound(schema, "maximum", "exclusiveMaximum", low=False)
        try:
            if integer:
                int_lo = None if lo is None else (math.floor(lo) + 1 if lo_excl and float(lo).is_integer()
                                                  else math.ceil(lo))
                int_hi = None if hi is None else (math.ceil(hi) - 1 if hi_excl and float(hi).is_integer()
                                                  else math.floor(hi))
                return integer_range(int_lo, int_hi)
            # whole-number bounds; fractional ones are rounded inward (to a subset of the range)
            n_lo: Optional[int] = None
            n_hi: Optional[int] = None
            if lo is not None:
                n_lo = int(lo) if float(lo).is_integer() else math.ceil(lo)
                lo_excl = lo_excl and float(lo).is_integer()
            if hi is not None:
                n_hi = int(hi) if float(hi).is_integer() else math.floor(hi)
                hi_excl = hi_excl and float(hi).is_integer()
            return number_range(n_lo, lo_excl, n_hi, hi_excl)
        except ValueError as exc:
            raise SchemaError(f"{exc}: the bounds in {schema!r} admit no value the grammar can write") from exc

    @staticmethod
    def _bound(schema: Dict[str, Any], inclusive_key: str, exclusive_key: str,
               low: bool) -> Tuple[Optional[float], bool]:
        """The tighter of the inclusive and exclusive bound (draft-4 boolean form included)."""
        value = schema.get(inclusive_key)
        exclusive = schema.get(exclusive_key)
        for key, v in ((inclusive_key, value), (exclusive_key, exclusive)):
            if v is not None and not isinstance(v, bool) and not isinstance(v, (int, float)):
                raise SchemaError(f"'{key}' must be a number, got {v!r}")
            if isinstance(v, float) and not math.isfinite(v):
                raise SchemaError(f"'{key}' must be finite, got {v!r}")
        if isinstance(exclusive, bool):  # draft 4: a flag on minimum/maximum
            return (value, exclusive) if value is not None else (None, False)
        candidates: List[Tuple[float, bool]] = []
        if value is not None:
            candidates.append((value, False))
        if exclusive is not None:
            candidates.append((exclusive, True))
        if not candidates:
            return None, False
        if low:
            return max(candidates, key=lambda c: (c[0], c[1]))
        return min(candidates, key=lambda c: (c[0], not c[1]))


def json_schema_to_gbnf(schema: Union[str, Mapping[str, Any], bool], prop_order: Optional[List[str]] = None) -> str:
    """Convert a JSON Schema to a GBNF grammar whose outputs validate against it.

    Args:
        schema: The schema as JSON text, or already parsed (a dict, or ``True`` /
            ``False``).
        prop_order: Property names to write first, in this order; the others
            follow (required ones first, each group in the order of
            ``properties``).

    Returns:
        The grammar's GBNF text, starting at rule ``root``.

    Raises:
        SchemaError: The text is not JSON, the schema uses a keyword or pattern
            the converter refuses, or no value can satisfy it; the message names
            the keyword.
    """
    if isinstance(schema, (str, bytes, bytearray)):
        try:
            document = json.loads(schema)
        except json.JSONDecodeError as exc:
            raise SchemaError(f"the JSON schema is not valid JSON: {exc}") from exc
    else:
        document = schema
    converter = SchemaConverter(prop_order=prop_order or [], allow_fetch=False, dotall=False, raw_pattern=False)
    try:
        converter.resolve_refs(document, "input")
        converter.visit(document, "")
    except RecursionError:
        raise SchemaError("the schema is nested too deeply to convert; move inner parts into $defs") from None
    return converter.format_grammar()
