"""default_partition's labels: Disco 0.5.4's for str/bytes keys, Disco 0.5.3's for others (issue 9)."""
import hashlib

import pytest
from hypothesis import given, strategies as st

from discolite.worker.classic.func import default_partition

PARTS = st.integers(min_value=1, max_value=1 << 20)


def md5_mod(data, n):
    return int(hashlib.md5(data).hexdigest(), 16) % n


@given(st.text(), PARTS)
def test_str_keys_hash_their_utf8_bytes_as_disco_054(key, n):
    assert default_partition(key, n, None) == md5_mod(key.encode('utf-8'), n)


@given(st.binary(), PARTS)
def test_bytes_keys_hash_as_themselves_as_disco_054(key, n):
    assert default_partition(key, n, None) == md5_mod(key, n)


@given(st.integers(), PARTS)
def test_int_keys_hash_their_decimal_text_as_disco_053(key, n):
    assert default_partition(key, n, None) == md5_mod(str(key).encode('ascii'), n)
    assert default_partition(key, n, None) == default_partition(str(key), n, None)


@given(st.one_of(st.floats(allow_nan=False), st.booleans(), st.none(),
                 st.tuples(st.integers(), st.text()), st.lists(st.integers()),
                 st.frozensets(st.integers(), max_size=1)), PARTS)
def test_other_keys_hash_str_of_the_key(key, n):
    label = default_partition(key, n, None)
    assert label == md5_mod(str(key).encode('utf-8'), n)
    assert 0 <= label < n


def test_known_labels():
    # Fixed values, so a change of scheme cannot pass unnoticed.
    assert default_partition('apple', 1000, None) == \
        int('1f3870be274f6c49b3e31a0c6728957f', 16) % 1000
    assert default_partition(b'apple', 1000, None) == default_partition('apple', 1000, None)
    assert default_partition(7, 1000, None) == int('8f14e45fceea167a5a36dedd4bea2543', 16) % 1000
    # Equal keys of different types keep their own labels (1 == 1.0 == True).
    assert len({default_partition(k, 1 << 30, None) for k in (1, 1.0, True, '1')}) == 3
    assert default_partition(1, 1 << 30, None) == default_partition('1', 1 << 30, None)


def test_a_key_without_str_fails_with_its_own_error():
    class NoStr(object):
        def __str__(self):
            raise ValueError('no text for this key')
    with pytest.raises(ValueError, match='no text for this key'):
        default_partition(NoStr(), 4, None)
