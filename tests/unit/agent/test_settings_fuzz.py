"""Settings files are outside input: any bytes, any TOML, any value type give a Settings or a SettingsError.

A SettingsError names the file and is short; a secret under [cloud] is never quoted back; a Settings that
loads has values the agent can use (finite floats, integers that fit SQLite, a usable age in milliseconds).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.settings import Settings, SettingsError, load_settings

SECRET = "sk_fuzz_do_not_echo_7f3a"
SECTIONS = {
    "agent": ("state_dir", "serial", "max_db_mb", "expiry_interval_s"),
    "web": ("host", "port", "allowed_hosts"),
    "cloud": ("url", "device_id", "api_key", "secret_key", "timeout_s", "cpm_scan_timeout_s", "secret_kye"),
    "offline": ("max_sale_amount", "max_total_amount", "max_count", "max_age_hours"),
    "store": ("name", "currencies"),
    "devices": ("printer", "scanner", "card_reader"),
}
INT64 = 2**63 - 1
ECHOED = {"url", "device_id", "api_key", "timeout_s", "cpm_scan_timeout_s"}  # non-secret [cloud] keys
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _toml_string(text: str) -> str:
    escaped = "".join(c if c.isprintable() and c not in '"\\' else f"\\u{ord(c):04x}" if ord(c) < 0x10000
                      else f"\\U{ord(c):08x}" for c in text)
    return f'"{escaped}"'


def _toml_float(x: float) -> str:
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(x)


scalars = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.floats().map(_toml_float),
    st.booleans().map(lambda b: "true" if b else "false"),
    st.text(max_size=40).map(_toml_string),
    st.sampled_from(["1979-05-27T07:32:00Z", "1979-05-27", "07:32:00", '"JPY"', '["JPY", "USD"]',
                     '"http://127.0.0.1:1"', '"127.0.0.1"', "0", "-1", "1e309", "0x7fffffffffffffff"]),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4).map(lambda xs: "[" + ", ".join(xs) + "]"),
    st.dictionaries(st.sampled_from(["a", "b", "transport", "path"]), inner, max_size=3).map(
        lambda d: "{" + ", ".join(f"{k} = {v}" for k, v in d.items()) + "}"),
), max_leaves=8)
known_keys = st.sampled_from([k for keys in SECTIONS.values() for k in keys])
keys = st.one_of(known_keys, st.from_regex(r"[A-Za-z0-9_\-]{1,12}", fullmatch=True))
headers = st.one_of(st.sampled_from([f"[{s}]" for s in SECTIONS] + ["[devices.printer]", "[[agent]]"]),
                    st.text(max_size=20).map(lambda t: f"[{t}]"))
lines = st.one_of(headers, st.tuples(keys, values).map(lambda kv: f"{kv[0]} = {kv[1]}"), st.text(max_size=30))
documents = st.lists(lines, max_size=12).map("\n".join)
# Where a secret may sit: the [cloud] keys that are not quoted back in errors, and mistyped ones.
secret_keys = st.one_of(st.sampled_from(["secret_key", "secret_kye", "secret", "sk", "password"]),
                        st.from_regex(r"[a-z_]{1,12}", fullmatch=True).filter(lambda k: k not in ECHOED))
with_secret = st.tuples(documents, secret_keys, documents).map(
    lambda t: f'{t[0]}\n[cloud]\n{t[1]} = "{SECRET}"\n{t[2]}')


def _load_file(data: bytes) -> tuple[Path, Settings | SettingsError]:
    """Write `data` to a fresh file and load it; any other exception escapes (the test then fails)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "agent.toml"
        path.write_bytes(data)
        try:
            return path, load_settings(path)
        except SettingsError as err:
            return path, err


def _check_usable(s: Settings) -> None:
    """What the agent derives from its settings works: the age in ms, the quota in bytes, the paths."""
    assert 0 < s.offline.max_age_ms <= INT64
    assert 0 <= s.agent.max_db_mb * 1024 * 1024 <= INT64
    assert all(0 < v <= INT64 for v in (s.offline.max_sale_amount, s.offline.max_total_amount,
                                        s.offline.max_count))
    assert all(math.isfinite(v) for v in (s.agent.expiry_interval_s, s.cloud.timeout_s,
                                          s.cloud.cpm_scan_timeout_s, s.offline.max_age_hours))
    assert "\x00" not in str(s.agent.db_path) and "\x00" not in s.web.host


def _check_error(err: SettingsError, source: str) -> None:
    text = str(err)
    assert source in text and len(text) < 4000, text[:300]


class TestSettingsFuzz:
    @FUZZ
    @given(documents)
    def test_toml_ish_text(self, text: str) -> None:
        """Any TOML-ish text (known and unknown keys, any value type) loads or raises a SettingsError."""
        path, got = _load_file(text.encode("utf-8", "surrogatepass"))
        if isinstance(got, SettingsError):
            _check_error(got, str(path))
        else:
            _check_usable(got)

    @FUZZ
    @given(with_secret)
    def test_secret_never_quoted(self, text: str) -> None:
        """A secret under any non-public [cloud] key, amid any other text, is never part of the message."""
        path, got = _load_file(text.encode("utf-8", "surrogatepass"))
        if isinstance(got, SettingsError):
            _check_error(got, str(path))
            assert SECRET not in str(got)

    @FUZZ
    @given(st.binary(max_size=200))
    def test_arbitrary_bytes(self, data: bytes) -> None:
        """Any bytes (not UTF-8, NUL, half a TOML line) load or raise a SettingsError naming the file."""
        path, got = _load_file(data)
        if isinstance(got, SettingsError):
            _check_error(got, str(path))

    @FUZZ
    @given(st.sampled_from(sorted(SECTIONS)), known_keys, st.one_of(
        st.none(), st.binary(max_size=8), st.integers(), st.floats(), st.text(max_size=20), st.just(SECRET),
        st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=4), st.text(max_size=4)),
        st.builds(object), st.just(10**5000), st.just(Path("/srv/\x00x")), st.just(-math.inf),
    ))
    def test_arbitrary_value_types(self, section: str, key: str, value: Any) -> None:
        """Any Python value at any known key (as overrides) gives a Settings or a SettingsError."""
        try:
            _check_usable(load_settings(overrides={section: {key: value}}))
        except SettingsError as err:
            _check_error(err, "invalid configuration")
            if section == "cloud" and key not in ECHOED:
                assert SECRET not in str(err)

    def test_nesting_past_the_parser_limit(self) -> None:
        """Arrays nested 5,000 deep are refused as invalid TOML, not a RecursionError."""
        _path, got = _load_file(b"x = " + b"[" * 5000 + b"]" * 5000)
        assert isinstance(got, SettingsError) and "nested too deeply" in str(got)

    def test_not_utf8(self) -> None:
        """A file that is not UTF-8 is refused as invalid TOML, not a UnicodeDecodeError."""
        _path, got = _load_file(b'[store]\nname = "\xff"\n')
        assert isinstance(got, SettingsError) and "not UTF-8" in str(got)

    def test_number_past_the_digit_limit(self) -> None:
        """A 5,000-digit integer is refused in the file and as a value, without a ValueError escaping."""
        _path, got = _load_file(b"[web]\nport = " + b"9" * 5000 + b"\n")
        assert isinstance(got, SettingsError) and "too long" in str(got)
        with pytest.raises(SettingsError, match=r"web\.port: .*an integer of \d+ bits"):
            load_settings(overrides={"web": {"port": 10**5000}})

    def test_infinite_hours_refused(self) -> None:
        """`max_age_hours = inf` is refused (its milliseconds would not be an integer)."""
        _path, got = _load_file(b"[offline]\nmax_age_hours = inf\n")
        assert isinstance(got, SettingsError) and "offline.max_age_hours" in str(got)

    def test_mistyped_secret_key_not_echoed(self) -> None:
        """A secret under a mistyped [cloud] key is refused by name, its value never quoted."""
        _path, got = _load_file(f'[cloud]\nsecret_kye = "{SECRET}"\n'.encode())
        assert isinstance(got, SettingsError) and "cloud.secret_kye" in str(got) and SECRET not in str(got)


class TestMaxAgeBounds:
    def test_an_age_that_rounds_to_no_milliseconds_is_refused(self) -> None:
        """A positive max_age_hours so small its milliseconds would be 0 (found by the fuzz) is refused."""
        _path, got = _load_file(b"[offline]\nmax_age_hours = 9.49903787565081e-294\n")
        assert isinstance(got, SettingsError) and "offline.max_age_hours" in str(got)

    def test_one_second_is_the_smallest_age(self) -> None:
        _path, got = _load_file(b"[offline]\nmax_age_hours = 0.0002777777777777778\n")
        assert isinstance(got, Settings) and got.offline.max_age_ms == 1000
