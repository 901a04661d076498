"""A key written twice in one mapping is refused, in YAML and JSON policy files alike.

Parsers disagree on which of two equal keys wins, and a reviewer may read the
other one, so such a file is an error naming the file, the key and (YAML) the line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greenlang.auth.policyfile import load_policy_file
from greenlang.errors import InputError
from greenlang.jsonvalue import loads_strict

YAML_DUPLICATE_ACTION = """\
version: 1
roles:
  - name: viewer
    permissions:
      - {resource: "a:b", action: read, action: write}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_duplicate_key_in_a_flow_mapping_names_file_line_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "policy.yaml", YAML_DUPLICATE_ACTION)
    with pytest.raises(InputError) as caught:
        load_policy_file(path)
    assert str(caught.value) == (
        f"policy file {str(path)!r} line 5: key 'action' appears twice in one mapping; keep one"
    )


def test_yaml_duplicate_key_in_a_block_mapping_names_the_second_line(tmp_path: Path) -> None:
    text = "version: 1\nroles:\n  - name: viewer\n    priority: 1\n    description: x\n    priority: 9\n"
    path = write(tmp_path, "policy.yml", text)
    with pytest.raises(InputError, match=r"line 6: key 'priority' appears twice in one mapping; keep one"):
        load_policy_file(path)


def test_yaml_duplicate_top_level_section_is_refused(tmp_path: Path) -> None:
    text = "version: 1\nroles: []\nassignments: []\nroles:\n  - name: admin\n"
    with pytest.raises(InputError, match=r"line 4: key 'roles' appears twice"):
        load_policy_file(write(tmp_path, "policy.yaml", text))


def test_yaml_merge_keys_may_still_be_overridden(tmp_path: Path) -> None:
    text = (
        "version: 1\n"
        "base: &base {resource: 'a:b', action: read}\n"
        "roles:\n"
        "  - name: viewer\n"
        "    permissions:\n"
        "      - <<: *base\n"
        "        action: write\n"
    )
    # ``base`` is not a policy file section, so the file is refused for that, not for the override.
    with pytest.raises(InputError) as caught:
        load_policy_file(write(tmp_path, "policy.yaml", text))
    assert "appears twice" not in str(caught.value)
    assert "base" in str(caught.value)


def test_yaml_without_duplicates_still_loads(tmp_path: Path) -> None:
    text = YAML_DUPLICATE_ACTION.replace(", action: write", "")
    document = load_policy_file(write(tmp_path, "policy.yaml", text))
    assert [(p.resource, p.action) for p in document.roles[0].permissions] == [("a:b", "read")]


def test_json_duplicate_name_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    text = '{"version": 1, "roles": [{"name": "r1", "name": "r2"}]}'
    path = write(tmp_path, "policy.json", text)
    with pytest.raises(InputError) as caught:
        load_policy_file(path)
    message = str(caught.value)
    assert message.startswith(f"policy file {str(path)!r} is not valid JSON")
    assert "key 'name' appears twice" in message


def test_json_nan_is_refused_naming_the_key(tmp_path: Path) -> None:
    text = '{"version": 1, "roles": [{"name": "r1", "priority": NaN}]}'
    with pytest.raises(InputError, match=r"not valid JSON: key 'priority' holds NaN"):
        load_policy_file(write(tmp_path, "policy.JSON", text))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 1}', "key 'a' appears twice in one JSON object; keep one"),
        ('{"outer": {"k": [1, {"k": 2, "k": 3}]}}', "key 'k' appears twice"),
        ('{"x": NaN}', "key 'x' holds NaN, which is not a finite JSON number"),
        ('{"x": [1, [-Infinity]]}', "key 'x' holds -Infinity"),
        ('{"x": 1e400}', "key 'x' holds 1e400"),
        ("[Infinity]", "Infinity is not a finite JSON number"),
        ("NaN", "NaN is not a finite JSON number"),
    ],
)
def test_loads_strict_refuses(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[")):
        loads_strict(text)


def test_loads_strict_accepts_bytes_and_equal_keys_in_different_objects() -> None:
    assert loads_strict(b'{"a": {"a": 1.5}, "b": [{"a": 2}]}') == {"a": {"a": 1.5}, "b": [{"a": 2}]}


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=4),
    max_leaves=20,
)


@given(_json)
def test_loads_strict_agrees_with_json_on_what_json_can_write(value: object) -> None:
    text = json.dumps(value)
    assert loads_strict(text) == json.loads(text)
