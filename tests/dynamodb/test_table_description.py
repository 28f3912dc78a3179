"""Choosing a segment count from DescribeTable's figures."""

import time

import pytest

from transforms.dynamodb import table_description
from transforms.dynamodb.client import DynamoDBClientConfig
from transforms.dynamodb.scan.errors import EndpointUnreachable
from transforms.dynamodb.table_description import TableDescription, choose_total_segments

GB = 1 << 30
MB = 1 << 20


@pytest.mark.parametrize(
    "size_bytes, item_count, workers, expected",
    [
        (100 * 1024, 300, 4, 1),  # a tiny table: one page, one segment
        (5 * MB + 1, 20_000, 4, 6),  # never more segments than 1 MB pages
        (3 * GB, 3_000_000, 2, 8),  # 4 per worker beats 2 for the size
        (100 * GB, 10**8, 4, 50),  # one per 2 GB
        (10**9 * GB, 10**12, 4, 1_000_000),  # DynamoDB's maximum
        (0, 0, 3, 12),  # size not reported yet: 4 per worker
        (0, 10**6, 3, 12),  # the same, with an item count
        (0, 5, 3, 5),  # no size, but fewer items than segments: no more than the items
        (10 * MB, 3, 4, 3),  # no more segments than items
    ],
)
def test_segment_choice(size_bytes, item_count, workers, expected):
    choice = choose_total_segments(size_bytes, item_count, workers)
    assert choice.total_segments == expected
    assert str(expected) in choice.reason


@pytest.mark.parametrize("size_bytes", [0, 300 * 1024 * 1024])
def test_a_worker_count_the_runner_does_not_give_is_said_to_be_assumed(size_bytes):
    reason = choose_total_segments(size_bytes, 10**6, None).reason
    assert "4 per worker for 4 workers (assumed: --workers N to say)" in reason
    assert "for 2 worker(s)" in choose_total_segments(size_bytes, 10**6, 2).reason


def test_reason_explains_a_small_table():
    choice = choose_total_segments(100 * 1024, 300, 8)
    assert "more segments would be empty" in choice.reason


def test_description_from_a_describe_table_response():
    response = {
        "Table": {
            "TableName": "works",
            "KeySchema": [
                {"AttributeName": "sk", "KeyType": "RANGE"},
                {"AttributeName": "pk", "KeyType": "HASH"},
            ],
            "ItemCount": 10,
            "TableSizeBytes": 2048,
            "BillingModeSummary": {"BillingMode": "PAY_PER_REQUEST"},
            "ProvisionedThroughput": {"ReadCapacityUnits": 0},
            "GlobalSecondaryIndexes": [{"IndexName": "by-owner"}],
            "AttributeDefinitions": [
                {"AttributeName": "sk", "AttributeType": "N"},
                {"AttributeName": "owner", "AttributeType": "S"},
                {"AttributeName": "pk", "AttributeType": "B"},
            ],
        }
    }
    description = TableDescription.from_response(response)
    assert description.key_attributes == ("pk", "sk")
    assert description.key_types == ("B", "N")  # in the order of the key attributes
    assert description.billing_mode == "PAY_PER_REQUEST"
    assert description.read_capacity_units is None
    assert description.index_names == ("by-owner",)
    assert description.average_item_bytes == 204.8


def test_key_types_are_unknown_without_attribute_definitions():
    key = {"AttributeName": "id", "KeyType": "HASH"}
    response = {"Table": {"TableName": "t", "KeySchema": [key]}}
    assert TableDescription.from_response(response).key_types == ()


def test_an_endpoint_that_was_not_reached_is_not_waited_for_twice_in_a_while(
    silent_endpoint, monkeypatch
):
    """The checks before a run and the run each describe the table: an endpoint
    that did not answer the first is reported at once by the second, for
    ``UNREACHABLE_FOR`` seconds, then asked again."""
    monkeypatch.setattr(table_description, "QUICK_READ_TIMEOUT", 0.5)
    monkeypatch.setattr(table_description, "_UNREACHABLE", {})
    config = DynamoDBClientConfig(
        region_name="us-east-1", endpoint_url=silent_endpoint, max_attempts=1
    )
    with pytest.raises(EndpointUnreachable) as first:
        table_description.describe_table(config, "works")
    started = time.monotonic()
    with pytest.raises(EndpointUnreachable) as again:
        table_description.describe_table(config, "works")
    assert again.value is first.value and time.monotonic() - started < 0.2
    monkeypatch.setattr(table_description, "UNREACHABLE_FOR", 0.0)
    with pytest.raises(EndpointUnreachable) as later:
        table_description.describe_table(config, "works")
    assert later.value is not first.value


@pytest.fixture
def untrusted_tls_endpoint(tmp_path):
    """A loopback TLS server whose certificate (self-signed) nothing here trusts."""
    import datetime
    import socket
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "cert.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            try:
                context.wrap_socket(connection, server_side=True).close()
            except (ssl.SSLError, OSError):  # the client refuses the certificate
                connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(timeout=5)
    listener.close()


def test_an_untrusted_certificate_says_to_set_the_ca_bundle(untrusted_tls_endpoint, monkeypatch):
    monkeypatch.delenv("AWS_CA_BUNDLE", raising=False)
    config = DynamoDBClientConfig(
        region_name="us-east-1", endpoint_url=untrusted_tls_endpoint, max_attempts=1
    )
    with pytest.raises(EndpointUnreachable) as refused:
        table_description.describe_table(config, "works")
    assert str(refused.value).startswith(
        f"TLS with endpoint {untrusted_tls_endpoint} failed, its certificate is not trusted "
        "here: set AWS_CA_BUNDLE to the file of the certificate authority that signed it ("
    ), str(refused.value)
