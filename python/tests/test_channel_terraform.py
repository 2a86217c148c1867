"""Any go-plugin plugin, not only the KV example: grpcio's own health stub over
``soup_rpc.launch(...).channel`` against a Terraform provider built from HashiCorp's
terraform-plugin-framework (``go/terraform-provider-soupkv``, stock go-plugin: AutoMTLS
with a P-521 certificate, which grpcio alone cannot verify), with Terraform's cookie and
versions, as Terraform launches it."""

from __future__ import annotations

import pytest

grpc = pytest.importorskip("grpc")
from grpc_health.v1 import health_pb2, health_pb2_grpc  # noqa: E402

import soup_rpc  # noqa: E402
from conftest import ROOT, process_gone  # noqa: E402

PROVIDER = ROOT / "target" / "peers" / "bin" / "terraform-provider-soupkv"
TERRAFORM = ("TF_PLUGIN_MAGIC_COOKIE", "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2")


def provider() -> str:
    if not PROVIDER.exists():
        pytest.fail(f"{PROVIDER} is missing: build it with `cargo xtask peers`")
    return str(PROVIDER)


@pytest.mark.parametrize("args,version", [([], 6), (["-protocol5"], 5)])
def test_grpcio_stubs_reach_a_terraform_provider(args: list, version: int) -> None:
    with soup_rpc.launch([provider(), *args], cookie=TERRAFORM, versions=[5, 6]) as plugin:
        pid = plugin.pid
        assert pid is not None
        assert plugin.handshake.app_version == version
        assert plugin.handshake.server_certificate.key_type == "ec-p521"
        health = health_pb2_grpc.HealthStub(plugin.channel)
        answer = health.Check(health_pb2.HealthCheckRequest(service="plugin"), timeout=10.0)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        # A method the provider does not have: grpcio's error surface, code and details.
        with pytest.raises(grpc.RpcError) as raised:
            plugin.channel.unary_unary(f"/tfplugin{version}.Provider/NoSuchMethod")(b"", timeout=10.0)
        assert raised.value.code() == grpc.StatusCode.UNIMPLEMENTED
        assert "NoSuchMethod" in raised.value.details()
    assert plugin.exit is not None and plugin.exit.how == "exited"
    assert process_gone(pid)


def test_the_wrong_cookie_is_refused_by_name() -> None:
    with pytest.raises(soup_rpc.CookieRejected):
        soup_rpc.launch([provider()], cookie=("BASIC_PLUGIN", "hello"), versions=[5, 6])
