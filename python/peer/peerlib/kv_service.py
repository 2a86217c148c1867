"""The proto.KV servicer (grpc.aio) over a FileStore."""
from __future__ import annotations

import logging

import grpc

from . import probe
from .kvgen import kv_pb2, kv_pb2_grpc
from .store import FileStore, KeyNotFound

log = logging.getLogger("soup_peer.kv")


class KVServicer(kv_pb2_grpc.KVServicer):
    def __init__(self, store: FileStore, configured_tls: str) -> None:
        self.store = store
        self.configured_tls = configured_tls

    async def Get(self, request: kv_pb2.GetRequest, context: grpc.aio.ServicerContext) -> kv_pb2.GetResponse:
        try:
            value = self.store.get(request.key)
        except KeyNotFound:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"key not found: {request.key}")
        return kv_pb2.GetResponse(value=value)

    async def Put(self, request: kv_pb2.PutRequest, context: grpc.aio.ServicerContext) -> kv_pb2.Empty:
        value = probe.enrich(
            request.value, lambda: probe.tls_facts(context.auth_context(), self.configured_tls)
        )
        self.store.put(request.key, value)
        return kv_pb2.Empty()
