"""Connecting as Cloudforet's own client does (spaceone-core's `pygrpc.client`, spacectl):
every service that server reflection lists, the file holding it fetched, and
`<package>.<file>_pb2` and `_pb2_grpc` imported from the client's own compiled copy of
Cloudforet's protos. Any listed service whose modules cannot be imported fails the whole
connection, as it does for Cloudforet's client."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import grpc
from google.protobuf import descriptor_pb2
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc


@dataclass(frozen=True)
class Reflected:
    """One listed service: its full name, its stub on the channel, its file's messages."""

    full_name: str
    stub: Any
    messages: ModuleType
    proto: descriptor_pb2.FileDescriptorProto

    def request(self, method: str) -> type:
        """The request message class of `method`, from the client's compiled copy."""
        (described,) = self.proto.service
        (found,) = [m for m in described.method if m.name == method]
        return getattr(self.messages, found.input_type.rsplit(".", 1)[1])  # type: ignore[no-any-return]


def reflected_services(channel: grpc.Channel) -> dict[str, Reflected]:
    """The services reflection lists on `channel`, by short name (`Event`, `Alert`, …)."""
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)

    def ask(request: reflection_pb2.ServerReflectionRequest) -> Any:
        (answer,) = reflection.ServerReflectionInfo(iter([request]), timeout=30)
        return answer

    listed = ask(reflection_pb2.ServerReflectionRequest(list_services=""))
    services = {}
    for service in listed.list_services_response.service:
        found = ask(reflection_pb2.ServerReflectionRequest(file_containing_symbol=service.name))
        raw = found.file_descriptor_response.file_descriptor_proto[0]
        proto = descriptor_pb2.FileDescriptorProto.FromString(raw)
        folder = proto.package.replace(".", "/") + "/"
        assert proto.name.startswith(folder) and proto.name.endswith(".proto"), proto.name
        module = f"{proto.package}.{proto.name.removeprefix(folder).removesuffix('.proto')}"
        (described,) = proto.service
        stub = getattr(importlib.import_module(f"{module}_pb2_grpc"), f"{described.name}Stub")
        services[described.name] = Reflected(
            service.name, stub(channel), importlib.import_module(f"{module}_pb2"), proto
        )
    return services
