"""The vectors of reference §1.3 and §1.4, and the official SDK agreeing with our crypto."""

import pytest

from larkdou.errors import DecryptError
from larkdou.lark import crypto

CHALLENGE = '{"challenge":"ajls384kdjx98XX","token":"xxxxxx","type":"url_verification"}'
FIXED_IV_CIPHER = ("AAECAwQFBgcICQoLDA0ODw9mLTIAZS9jAmGTQ1wAhHpnBHVL2wRjH9rPunQdQC1vLjsckayA10kZ8cPwtb62F8rC7J"
                   "prUPR/4S2aZihfR+p8npX7UzWPithZmfKIPZgE")


def test_widely_cited_sample_decrypts():
    assert crypto.decrypt("test key", "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=") == b"hello world"


def test_fixed_iv_vector_encrypts_and_decrypts():
    assert crypto.encrypt("test key", CHALLENGE, iv=bytes(range(16))) == FIXED_IV_CIPHER
    assert crypto.decrypt("test key", FIXED_IV_CIPHER).decode() == CHALLENGE


def test_signature_vector():
    body = ('{"encrypt":"%s"}' % FIXED_IV_CIPHER).encode()
    expected = "3d0c699fc2e01244af25e03bfb5fdd58f72780c45c0fe7c22b7a71fea8cb3342"
    assert crypto.signature("1700000000", "nonce123", "test key", body) == expected
    assert crypto.verify_signature("1700000000", "nonce123", "test key", body, expected)
    assert not crypto.verify_signature("1700000001", "nonce123", "test key", body, expected)
    assert not crypto.verify_signature("1700000000", "nonce123", "test key", body + b" ", expected)
    assert not crypto.verify_signature("1700000000", "nonce123", "test key", body, "")


@pytest.mark.parametrize("bad", ["", "not base64 !!", "AAAA", FIXED_IV_CIPHER[:-8] + "AAAAAAA="])
def test_malformed_ciphertext_is_a_decrypt_error(bad):
    with pytest.raises(DecryptError):
        crypto.decrypt("test key", bad)


def test_wrong_key_is_a_decrypt_error_or_garbage_never_the_plaintext():
    try:
        out = crypto.decrypt("other key", FIXED_IV_CIPHER)
    except DecryptError:
        return
    assert out.decode("utf-8", "replace") != CHALLENGE


def test_official_sdk_decrypts_what_we_encrypt():
    from lark_oapi.core.utils.decryptor import AESCipher

    cipher = crypto.encrypt("某个 key", '{"x": "你好"}')
    assert AESCipher("某个 key").decrypt_str(cipher) == '{"x": "你好"}'


def test_tokens_compare_only_equal_strings():
    assert crypto.tokens_equal("abc", "abc")
    assert not crypto.tokens_equal("abc", "abd")
    assert not crypto.tokens_equal("abc", None)
    assert not crypto.tokens_equal("abc", 123)
