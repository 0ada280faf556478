"""The taxonomy: fine labels, the six canonical classes, and the token rules that read names.

The rules are data (`taxonomy.yaml`, shipped in the package; any copy can be edited and named
by `DRUM_TAXONOMY`). `load_taxonomy` validates the file and names the line of any problem.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
CANONICAL_CLASSES = ("kick", "snare", "hihat", "tom", "cymbal", "percussion")

# "HH_Open2" -> HH Open 2; "ClosedHH" -> Closed HH; "808Kick" -> 808 Kick; "22in" -> 22 in
_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")


class TaxonomyError(ValueError):
    """An invalid taxonomy file; the message names the file and line."""


@dataclass(frozen=True)
class NameMatch:
    """What one name (a folder or a file stem) says."""

    status: str  # "labelled", "ambiguous", "non_drum" or "none"
    fine_label: str = ""
    label: str = ""
    reason: str = ""


@dataclass
class Taxonomy:
    classes: tuple[str, ...]
    fine_to_class: dict[str, str]
    rules: list[tuple[frozenset[str], str]]  # (token set, fine label), in file order
    aliases: dict[tuple[str, ...], tuple[str, ...]]
    non_drum: frozenset[str]
    folder_may_hold: dict[str, frozenset[str]]
    makers: list[tuple[tuple[str, ...], str]]  # (word run, maker), longest runs first
    digest: str  # sha256 of the file's bytes: part of every downstream code version
    _known: frozenset[str] = field(init=False, repr=False)
    _drum_words: frozenset[str] = field(init=False, repr=False)
    _makers_by_word: dict = field(init=False, repr=False)

    def __post_init__(self) -> None:
        drum_words = set()
        for tokens, _ in self.rules:
            drum_words |= tokens
        for source, target in self.aliases.items():
            drum_words |= set(source) | set(target)
        self._drum_words = frozenset(drum_words)
        self._known = self._drum_words | self.non_drum
        self._makers_by_word: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for run, maker in self.makers:
            self._makers_by_word.setdefault(run[0], []).append((run, maker))

    def tokens(self, name: str) -> list[str]:
        """Lowercase tokens of a name, plurals folded and aliases applied."""
        words = [w.lower() for w in _WORD.findall(name)]
        words = [part for w in words for part in self._unglued(self._singular(w))]
        out: list[str] = []
        i = 0
        while i < len(words):
            pair = tuple(words[i : i + 2])
            if len(pair) == 2 and pair in self.aliases:
                out.extend(self.aliases[pair])
                i += 2
            else:
                out.extend(self.aliases.get((words[i],), (words[i],)))
                i += 1
        return out

    def _singular(self, word: str) -> str:
        if word in self._known or len(word) < 4:
            return word
        for cut in (1, 2):  # kicks -> kick, crashes -> crash
            if word.endswith("s") and word[:-cut] in self._known:
                return word[:-cut]
        return word

    def _unglued(self, word: str) -> list[str]:
        """An unknown long word read as the drum words glued in it, as short 8.3 names are
        ("hihatcym" -> hihat cym, "tomhidrm" -> tom hi drm); else the word itself. Non-drum
        words never come out of a glued word: "drumsynth" says nothing."""
        if word in self._known or len(word) < 6:
            return [word]
        # the fewest drum words (at least 2 letters each) spelling the whole word, if any
        best: list[list[str] | None] = [[]] + [None] * len(word)
        for end in range(2, len(word) + 1):
            splits = [best[start] + [word[start:end]] for start in range(end - 1)
                      if best[start] is not None and word[start:end] in self._drum_words]
            best[end] = min(splits, key=len, default=None)
        return best[-1] or [word]

    def match(self, name: str) -> NameMatch:
        """What `name` says: one fine label, a conflict, non-drum material, or nothing."""
        tokens = set(self.tokens(name))
        hits = [(rule, fine) for rule, fine in self.rules if rule <= tokens]
        # A match inside a larger one ("tom" inside "tom high") is not a separate claim.
        hits = [(rule, fine) for rule, fine in hits if not any(rule < other for other, _ in hits)]
        non_drum = sorted(t for t in tokens & self.non_drum if not any(t in rule for rule, _ in hits))
        if non_drum:
            return NameMatch("non_drum", reason=f"non-drum word '{non_drum[0]}'")
        if not hits:
            return NameMatch("none")
        classes = sorted({self.fine_to_class[fine] for _, fine in hits})
        if len(classes) > 1:
            said = ", ".join(f"{fine} ({self.fine_to_class[fine]})" for _, fine in hits)
            return NameMatch("ambiguous", reason=f"names more than one class: {said}")
        label = classes[0]
        specific = [hit for hit in hits if hit[1] != label] or hits
        rule, fine = max(specific, key=lambda hit: len(hit[0]))
        tied = sorted({f for r, f in specific if len(r) == len(rule)})
        if len(tied) > 1:
            return NameMatch("labelled", label, label, f"several {label} words: {', '.join(tied)}")
        return NameMatch("labelled", fine, label, f"'{' '.join(sorted(rule))}'")

    def maker(self, path: str) -> str:
        """The manufacturer or machine a path names ("Roland TR-808/BD.wav" -> "Roland"), or ''."""
        words = [w.lower() for w in _WORD.findall(path)]
        found = [(len(run), maker) for i, word in enumerate(words) for run, maker in self._makers_by_word.get(word, ())
                 if tuple(words[i : i + len(run)]) == run]
        return max(found, key=lambda hit: hit[0])[1] if found else ""

    def folder_may_hold_class(self, folder_class: str, file_class: str) -> bool:
        return folder_class == file_class or file_class in self.folder_may_hold.get(folder_class, ())


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Read and validate a taxonomy file (default: the packaged one). Raises TaxonomyError."""
    path = Path(path) if path else DEFAULT_TAXONOMY_PATH
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
        root = yaml.compose(text)
    except OSError as exc:
        raise TaxonomyError(f"{path}: cannot read taxonomy: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(root, yaml.MappingNode):
        raise TaxonomyError(f"{path}: the taxonomy must be a mapping with classes, aliases, fine_labels, non_drum")
    sections = {key.value: value for key, value in root.value}

    def fail(node: yaml.Node | None, message: str) -> TaxonomyError:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        return TaxonomyError(f"{path}{line}: {message}")

    def section(name: str, kind: type) -> yaml.Node:
        node = sections.get(name)
        if node is None:
            raise fail(root, f"missing section '{name}'")
        if not isinstance(node, kind):
            raise fail(node, f"'{name}' must be a {'list' if kind is yaml.SequenceNode else 'mapping'}")
        return node

    classes_node = section("classes", yaml.SequenceNode)
    classes = tuple(str(item.value) for item in classes_node.value)
    unknown = sorted(set(classes) - set(CANONICAL_CLASSES))
    if unknown:
        raise fail(classes_node, f"unknown canonical class {unknown[0]!r}; the classes are {', '.join(CANONICAL_CLASSES)}")

    aliases: dict[tuple[str, ...], tuple[str, ...]] = {}
    for key, value in section("aliases", yaml.MappingNode).value:
        source = tuple(str(key.value).lower().split())
        if not 1 <= len(source) <= 2:
            raise fail(key, f"alias {key.value!r} must be one or two words")
        aliases[source] = tuple(str(value.value).lower().split())

    def words(node: yaml.Node) -> list[str]:
        return str(node.value).lower().split()

    fine_to_class: dict[str, str] = {}
    rules: list[tuple[frozenset[str], str]] = []
    rule_lines: list[yaml.Node] = []
    for key, value in section("fine_labels", yaml.MappingNode).value:
        fine = str(key.value)
        entry = {k.value: v for k, v in value.value} if isinstance(value, yaml.MappingNode) else {}
        if "class" not in entry:
            raise fail(key, f"fine label {fine!r} has no mapping to a canonical class (add 'class: ...')")
        canonical = str(entry["class"].value)
        if canonical not in classes:
            raise fail(entry["class"], f"fine label {fine!r} maps to unknown class {canonical!r}; "
                                       f"the classes are {', '.join(classes)}")
        fine_to_class[fine] = canonical
        names = entry.get("names")
        if not isinstance(names, yaml.SequenceNode) or not names.value:
            raise fail(key, f"fine label {fine!r} has no names (add 'names: [word, ...]')")
        for name in names.value:
            rules.append((frozenset(words(name)), fine))
            rule_lines.append(name)

    non_drum_node = section("non_drum", yaml.SequenceNode)
    non_drum = frozenset(str(item.value).lower() for item in non_drum_node.value)

    folder_may_hold: dict[str, frozenset[str]] = {}
    for key, value in sections.get("folder_may_hold", yaml.MappingNode(None, [])).value:
        held = [str(item.value) for item in getattr(value, "value", [])]
        for name in [str(key.value), *held]:
            if name not in classes:
                raise fail(key, f"folder_may_hold names unknown class {name!r}")
        folder_may_hold[str(key.value)] = frozenset(held)

    makers: list[tuple[tuple[str, ...], str]] = []
    for key, value in sections.get("makers", yaml.MappingNode(None, [])).value:
        for item in getattr(value, "value", []):
            makers.append((tuple(w.lower() for w in _WORD.findall(str(item.value))), str(key.value)))
    makers.sort(key=lambda entry: -len(entry[0]))

    for canonical in classes:
        if canonical not in fine_to_class:
            raise fail(classes_node, f"class {canonical!r} has no generic fine label of its own name")
    taxonomy = Taxonomy(classes, fine_to_class, rules, aliases, non_drum, folder_may_hold, makers,
                        hashlib.sha256(raw).hexdigest())
    for (rule, fine), node in zip(rules, rule_lines, strict=True):
        for token in sorted(rule):
            if taxonomy.tokens(token) != [token]:
                raise fail(node, f"rule {node.value!r} of {fine!r} can never match: names never contain the "
                                 f"token {token!r} (it reads as {' '.join(taxonomy.tokens(token)) or 'nothing'})")
    seen: dict[frozenset[str], str] = {}
    for (rule, fine), node in zip(rules, rule_lines, strict=True):
        if rule in seen and seen[rule] != fine:
            raise fail(node, f"rule {node.value!r} names both {seen[rule]!r} and {fine!r}")
        seen[rule] = fine
    return taxonomy
