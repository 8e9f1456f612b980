#!/usr/bin/env python3
"""Writes src/http/openapi.json, the OpenAPI 3.1 document gamefleet serves at
GET /api/openapi.json. Edit this file, run it, commit both; tests/api/openapi.rs
checks the document against the router and the answers against the schemas."""
import json, pathlib, sys

NAME_RG = {"type": "string", "minLength": 1, "maxLength": 90, "pattern": r"^[-\w._()]*[-\w_()]$"}
NAME_CG = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
STATE = {"type": "string", "enum": ["Creating", "Running", "MarkedForDeletion", "Failed", "Deleting"]}
TIME = {"type": "string", "format": "date-time"}
SESSIONS = {"type": "integer", "minimum": 0, "maximum": 2147483647}
LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
FLEET_NAME = {"type": "string", "minLength": 1, "maxLength": 40, "pattern": r"^[a-z]([a-z0-9-]*[a-z0-9])?$", "description": "no two dashes in a row"}
PERCENT_OR_COUNT = {"oneOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": r"^[0-9]{1,3}%$"}]}
# tests/api/openapi.rs checks this is the registry's list (gamefleet::cloud::registry::Provider::names).
PROVIDERS = ["oci-container-instance", "oci-compute", "aci", "huawei-ecs", "openstack"]

ERROR_BODY = {"type": "object", "required": ["code", "message"], "additionalProperties": False,
              "properties": {"code": {"type": "string", "examples": ["GroupNotFound"]},
                             "message": {"type": "string"}}}

schemas = {
    "Error": {"type": "object", "required": ["error"], "additionalProperties": False,
              "properties": {"error": ERROR_BODY}},
    "GroupKey": {
        "type": "object", "required": ["resourceGroup", "containerGroupName"],
        "properties": {"resourceGroup": NAME_RG, "containerGroupName": NAME_CG},
    },
    "GameServer": {
        "type": "object",
        "required": ["resourceGroup", "containerGroupName", "state", "publicIp", "activeSessions",
                     "location", "createdAt", "stateChangedAt", "maxSessions", "labels", "reserved",
                     "lastHeartbeatAt"],
        "properties": {
            "resourceGroup": {"type": "string"}, "containerGroupName": {"type": "string"},
            "state": STATE, "publicIp": {"type": ["string", "null"]},
            "activeSessions": SESSIONS, "location": {"type": "string"},
            "failureReason": {"type": "string"}, "createdAt": TIME, "stateChangedAt": TIME,
            "maxSessions": {"type": ["integer", "null"], "minimum": 0},
            "labels": LABELS, "reserved": {"type": "integer", "minimum": 0},
            "lastHeartbeatAt": {"type": ["string", "null"], "format": "date-time"},
            "health": {"type": "string", "enum": ["healthy", "unknown", "unhealthy"]},
        },
    },
    "CreateRequest": {
        "type": "object", "required": ["resourceGroup", "containerGroupName", "containerGroup"],
        "properties": {
            "resourceGroup": NAME_RG, "containerGroupName": NAME_CG,
            "containerGroup": {"$ref": "#/components/schemas/ContainerGroup"},
            "maxSessions": {"type": "integer", "minimum": 1}, "labels": LABELS,
        },
    },
    "AllocateRequest": {
        "type": "object", "required": ["requestId"],
        "properties": {
            "requestId": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": r"^[A-Za-z0-9_.:-]+$"},
            "players": {"type": "integer", "minimum": 1, "default": 1},
            "regions": {"type": "array", "items": {"type": "string"}},
            "labels": LABELS,
            "strategy": {"type": "string", "enum": ["Packed", "Distributed"], "default": "Packed"},
            "resourceGroup": NAME_RG,
        },
    },
    "Allocation": {
        "type": "object",
        "required": ["resourceGroup", "containerGroupName", "publicIp", "ports", "location", "reserved",
                     "reservationExpiresAt", "requestId"],
        "properties": {
            "resourceGroup": {"type": "string"}, "containerGroupName": {"type": "string"},
            "publicIp": {"type": ["string", "null"]},
            "ports": {"type": "array", "items": {"type": "object"}},
            "location": {"type": "string"}, "reserved": {"type": "integer", "minimum": 0},
            "reservationExpiresAt": TIME, "requestId": {"type": "string"},
        },
    },
    "DeleteRequest": {
        "allOf": [{"$ref": "#/components/schemas/GroupKey"}],
        "properties": {"force": {"type": "boolean", "default": False}},
    },
    "Deleted": {
        "type": "object", "required": ["resourceGroup", "containerGroupName", "deleted", "state"],
        "properties": {"resourceGroup": {"type": "string"}, "containerGroupName": {"type": "string"},
                       "deleted": {"type": "boolean"}, "state": {"type": ["string", "null"]}},
    },
    "DetailsRequest": {
        "allOf": [{"$ref": "#/components/schemas/GroupKey"}],
        "properties": {"type": {"type": "string", "enum": ["logs"]},
                       "containerName": NAME_CG, "tail": {"type": "integer", "minimum": 1}},
        "if": {"required": ["type"]}, "then": {"required": ["containerName"]},
    },
    "SessionItem": {
        "allOf": [{"$ref": "#/components/schemas/GroupKey"}],
        "required": ["activeSessions"],
        "properties": {"activeSessions": SESSIONS},
    },
    "SessionResults": {
        "type": "object", "required": ["results"],
        "properties": {"results": {"type": "array", "items": {
            "type": "object", "required": ["resourceGroup", "containerGroupName", "applied"],
            "properties": {"resourceGroup": {"type": "string"}, "containerGroupName": {"type": "string"},
                           "activeSessions": SESSIONS, "applied": {"type": "boolean"},
                           "error": ERROR_BODY}}}},
    },
    "SetStateRequest": {
        "allOf": [{"$ref": "#/components/schemas/GroupKey"}],
        "required": ["state"],
        "properties": {"state": {"type": "string", "enum": ["Running", "MarkedForDeletion", "Failed"]},
                       "reason": {"type": "string"}},
    },
    "ContainerGroup": {
        "description": "ARM's container group body: ARM's REST shape (everything under `properties`) or the original project's flattened shape (containers, osType, ipAddress at the top, image/resources/ports at each container's top). Any other ARM field is passed on.",
        "type": "object", "required": ["location"],
        "properties": {
            "location": {"type": "string", "minLength": 1, "examples": ["westeurope"]},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "osType": {"type": "string", "examples": ["Linux", "Windows"]},
            "containers": {"type": "array", "minItems": 1, "items": {"type": "object", "required": ["name", "image"],
                "properties": {"name": NAME_CG, "image": {"type": "string", "minLength": 1},
                               "resources": {"type": "object", "properties": {"requests": {"type": "object",
                                   "required": ["cpu", "memoryInGB"],
                                   "properties": {"cpu": {"type": "number", "exclusiveMinimum": 0},
                                                  "memoryInGB": {"type": "number", "exclusiveMinimum": 0}}}}},
                               "ports": {"type": "array", "items": {"type": "object"}},
                               "environmentVariables": {"type": "array", "items": {"type": "object", "required": ["name"],
                                   "properties": {"name": {"type": "string", "minLength": 1}, "value": {"type": "string"},
                                                  "secureValue": {"type": "string"}}}}}}},
            "ipAddress": {"type": "object", "required": ["ports", "type"],
                          "properties": {"ports": {"type": "array", "minItems": 1, "items": {"type": "object"}},
                                         "type": {"type": "string", "examples": ["Public", "Private"]}}},
            "properties": {"type": "object", "description": "ARM's REST shape: osType, containers (each {name, properties: {image, resources, ports}}), ipAddress"},
        },
    },
    "FleetRequest": {
        "type": "object", "additionalProperties": False,
        "required": ["name", "resourceGroup", "containerGroup", "max", "buffer"],
        "properties": {
            "name": FLEET_NAME, "resourceGroup": NAME_RG,
            "location": {"type": "string", "description": "fills the template's, or must agree with it"},
            "containerGroup": {"$ref": "#/components/schemas/ContainerGroup"},
            "maxSessions": {"type": "integer", "minimum": 1}, "labels": LABELS,
            "min": {"type": "integer", "minimum": 0, "maximum": 5000, "default": 0},
            "max": {"type": "integer", "minimum": 0, "maximum": 5000},
            "buffer": {"type": "object", "minProperties": 1, "maxProperties": 1,
                       "description": "free slots (needs maxSessions) or idle servers to keep; n or \"25%\"",
                       "properties": {"slots": PERCENT_OR_COUNT, "servers": PERCENT_OR_COUNT}},
            "cooldown": {"type": "string", "examples": ["10m"], "default": "10m"},
        },
    },
    "PowerRequest": {
        "type": "object",
        "description": "action and provider default to POWER_ACTION / POWER_PROVIDER; give one target: resource, secretId, resources or selector",
        "properties": {
            "action": {"type": "string", "enum": ["start", "stop", "toggle", "restart", "status"]},
            "provider": {"type": "string", "enum": PROVIDERS},
            "resource": {"type": "string", "minLength": 1, "description": "an OCID, an ARM id, rg/name for aci, a server id"},
            "secretId": {"type": "string", "minLength": 1, "description": "an OCI Vault secret holding the resource id"},
            "resources": {"type": "array", "minItems": 1, "maxItems": 100, "uniqueItems": True, "items": {"type": "string", "minLength": 1}},
            "selector": {"type": "object", "required": ["clusterId"], "additionalProperties": False,
                         "properties": {"clusterId": {"type": "string", "format": "uuid"}}},
            "type": {"type": "string", "enum": ["SOFT", "HARD"]},
            "pollIntervalSeconds": {"type": "number", "minimum": 0, "maximum": 600},
            "maxWaitSeconds": {"type": "number", "minimum": 0, "maximum": 3600},
            "wait": {"type": "boolean", "default": True},
        },
    },
    "ScheduleRequest": {
        "type": "object", "required": ["name", "cron", "timeZone", "action"],
        "description": "Power's target fields (provider with resource, secretId, resources or selector; pollIntervalSeconds, maxWaitSeconds, wait, type) plus when to apply them",
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 63, "pattern": r"^[A-Za-z0-9._-]+$"},
            "cron": {"type": "string", "examples": ["30 23 * * MON-FRI", "0 0 8 * * *", "@daily"]},
            "timeZone": {"type": "string", "examples": ["Europe/Berlin", "UTC"]},
            "action": {"type": "string", "enum": ["start", "stop", "restart", "toggle"]},
            "provider": {"type": "string", "enum": PROVIDERS},
            "resource": {"type": "string"}, "secretId": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "selector": {"type": "object"},
            "enforced": {"type": "boolean", "default": False},
            "retainRunning": {"type": "boolean", "default": False},
            "enabled": {"type": "boolean", "default": True},
            "pollIntervalSeconds": {"type": "number"}, "maxWaitSeconds": {"type": "number"},
            "wait": {"type": "boolean"}, "type": {"type": "string", "enum": ["SOFT", "HARD"]},
        },
    },
    "PowerOutcome": {
        "type": "object", "required": ["result", "message"],
        "description": "one outcome (resource) or a set's (targets); an answer that is not 2xx carries `error`",
        "properties": {
            "result": {"type": "string", "enum": ["succeeded", "noAction", "reported", "accepted", "refused", "timedOut", "failed", "error"]},
            "message": {"type": "string"}, "provider": {"type": "string"}, "action": {"type": "string"},
            "resource": {"type": "string"}, "seen": {"type": ["string", "null"]}, "reached": {"type": ["string", "null"]},
            "command": {"type": ["string", "null"]}, "elapsedSeconds": {"type": "number", "minimum": 0},
            "targets": {"type": "array", "items": {"type": "object"}},
            "error": ERROR_BODY,
        },
    },
    "Object": {"type": "object", "description": "see the README for its fields"},
    "DashboardData": {
        "type": "object",
        "required": ["at", "servers", "total", "limit", "counts", "regions", "fleets", "schedules", "activity"],
        "additionalProperties": False,
        "properties": {
            "at": TIME,
            "servers": {"type": "array", "items": {"$ref": "#/components/schemas/GameServer"},
                        "description": "the first `limit` servers in key order"},
            "total": {"type": "integer", "minimum": 0, "description": "every server in the table"},
            "limit": {"type": "integer", "minimum": 1},
            "counts": {"type": "array", "items": {
                "type": "object", "required": ["state", "region", "servers"], "additionalProperties": False,
                "properties": {"state": {"type": "string", "enum": STATE["enum"] + ["Unhealthy"]},
                               "region": {"type": "string"}, "servers": {"type": "integer", "minimum": 0}}}},
            "regions": {"type": "array", "items": {
                "type": "object", "required": ["region", "sessions", "reserved"], "additionalProperties": False,
                "properties": {"region": {"type": "string"}, "sessions": {"type": "integer", "minimum": 0},
                               "reserved": {"type": "integer", "minimum": 0}}}},
            "fleets": {"type": "array", "items": {"type": "object"}, "description": "as GET /api/Fleets, without containerGroup and status.lastRun"},
            "schedules": {"type": "array", "items": {"type": "object"}, "description": "as GET /api/Schedules"},
            "activity": {"type": "array", "items": {
                "type": "object", "required": ["at", "source", "summary"], "additionalProperties": False,
                "properties": {"at": TIME, "source": {"type": "string", "enum": ["gc", "autoscale"]},
                               "summary": {"type": "string"}}}},
        },
    },
}

def ref(name): return {"$ref": f"#/components/schemas/{name}"}
def body(schema, required=True):
    return {"required": required, "content": {"application/json": {"schema": schema}}}
def ok(desc, schema, ctype="application/json"):
    return {"description": desc, "content": {ctype: {"schema": schema}}}
ERR = {"description": "error", "content": {"application/json": {"schema": ref("Error")}}}
def errors(*codes):
    names = {"400": "bad input (nothing written)", "401": "no or wrong key", "403": "forbidden",
             "404": "not found", "409": "conflict with the server's state", "413": "body over 1 MiB",
             "415": "not JSON", "502": "the cloud provider failed", "503": "storage or the provider unavailable, or no capacity (Retry-After)",
             "504": "timed out"}
    return {c: dict(ERR, description=names[c]) for c in codes}
COMMON = ("400", "401", "413", "415", "502", "503")

paths = {
    "/api/Create": {"post": {"operationId": "Create", "summary": "Create a game server (ACI container group)",
        "requestBody": body(ref("CreateRequest")),
        "responses": {"202": ok("the Creating record", ref("GameServer")), **errors(*COMMON, "404", "409")}}},
    "/api/List": {m: {"operationId": op, "summary": "The game servers (streamed)" + extra,
        "parameters": [
            {"name": "state", "in": "query", "schema": {"type": "string", "enum": STATE["enum"] + ["all"]}},
            {"name": "resourceGroup", "in": "query", "schema": NAME_RG}],
        "responses": {"200": ok("the servers", {"type": "array", "items": ref("GameServer")}), **errors("400", "401", "503")}}
        for m, op, extra in [("get", "List", ""), ("post", "ListPost", "; POST as the original project called it, same query, no body")]},
    "/api/Allocate": {"post": {"operationId": "Allocate", "summary": "Reserve slots on a server, once per requestId",
        "requestBody": body(ref("AllocateRequest")),
        "responses": {"200": ok("the server and the reservation", ref("Allocation")), **errors(*COMMON)}}},
    "/api/Delete": {"post": {"operationId": "Delete", "summary": "Delete a game server",
        "requestBody": body(ref("DeleteRequest")),
        "responses": {"200": ok("deleted", ref("Deleted")), "202": ok("ARM still deleting", ref("Deleted")),
                      **errors(*COMMON, "404", "409")}}},
    "/api/Details": {"post": {"operationId": "Details", "summary": "ARM's container group, or a container's logs",
        "requestBody": body(ref("DetailsRequest")),
        "responses": {"200": ok("the group or the logs", ref("Object")), **errors(*COMMON, "404", "409")}}},
    "/api/SetSessions": {"post": {"operationId": "SetSessions", "summary": "Set active sessions (the matchmaker)",
        "requestBody": body({"type": "array", "items": ref("SessionItem")}),
        "responses": {"200": ok("every item applied", ref("SessionResults")),
                      "207": ok("some items not applied", ref("SessionResults")), **errors(*COMMON)}}},
    "/api/ReportSessions": {"post": {"operationId": "ReportSessions",
        "summary": "A game server reports its own sessions (its heartbeat); the token is the credential",
        "security": [{"sessionToken": []}, {"sessionTokenQuery": []}],
        "parameters": [{"name": "token", "in": "query", "schema": {"type": "string"}}],
        "requestBody": body({"oneOf": [ref("SessionItem"), {"type": "array", "minItems": 1, "maxItems": 1, "items": ref("SessionItem")}]}),
        "responses": {"200": ok("applied", ref("SessionResults")), **errors(*COMMON, "403", "404", "409")}}},
    "/api/SetState": {"post": {"operationId": "SetState", "summary": "Mark, unmark or fail a server",
        "requestBody": body(ref("SetStateRequest")),
        "responses": {"200": ok("the record", ref("GameServer")), **errors(*COMMON, "404", "409")}}},
    "/api/Fleets": {
        "get": {"operationId": "ListFleets", "summary": "Every fleet, or one (?name=)",
            "parameters": [{"name": "name", "in": "query", "schema": FLEET_NAME}],
            "responses": {"200": ok("the fleet(s) with status", {"oneOf": [ref("Object"), {"type": "array", "items": ref("Object")}]}),
                          **errors("400", "401", "404", "503")}},
        "post": {"operationId": "PutFleet", "summary": "Create or replace a fleet (standby capacity)",
            "requestBody": body(ref("FleetRequest")),
            "responses": {"200": ok("the fleet", ref("Object")), **errors(*COMMON)}},
        "delete": {"operationId": "DeleteFleet", "summary": "Delete a fleet (?drain=true marks its servers)",
            "parameters": [{"name": "name", "in": "query", "required": True, "schema": FLEET_NAME},
                           {"name": "drain", "in": "query", "schema": {"type": "boolean"}}],
            "responses": {"200": ok("deleted", ref("Object")), **errors("400", "401", "404", "503")}}},
    "/api/Schedules": {
        "get": {"operationId": "ListSchedules", "summary": "Every schedule with its next fire times",
            "responses": {"200": ok("the schedules", {"type": "array", "items": ref("Object")}),
                          **errors("401", "503")}},
        "post": {"operationId": "PutSchedule", "summary": "Create or replace a schedule",
            "requestBody": body(ref("ScheduleRequest")),
            "responses": {"200": ok("the schedule", ref("Object")), **errors(*COMMON)}},
        "delete": {"operationId": "DeleteSchedule", "summary": "Delete a schedule",
            "parameters": [{"name": "name", "in": "query", "required": True, "schema": {"type": "string", "minLength": 1, "pattern": "\\S"}}],
            "responses": {"200": ok("deleted", ref("Object")), **errors("400", "401", "404", "503")}}},
    "/api/Power": {"post": {"operationId": "Power", "summary": "Start, stop, toggle, restart or report compute on any provider",
        "requestBody": body(ref("PowerRequest")),
        "responses": {"200": ok("the outcome", ref("PowerOutcome")), "202": ok("accepted, not finished", ref("PowerOutcome")),
                      **errors(*COMMON),
                      **{c: ok(d + ": the outcome, with the error", ref("PowerOutcome")) for c, d in [
                          ("404", "the target does not exist"), ("409", "refused: the target is in a transitional state"),
                          ("502", "failed, or the provider is down"), ("504", "timed out before the target state")]}}}},
    "/api/OpenStack": {"get": {"operationId": "OpenStack", "summary": "The seed's OpenStack start/stop API (OPENSTACK_API_KEYS)",
        "security": [{"apiKey": []}, {"openstackApiKeyQuery": []}],
        "parameters": [{"name": "action", "in": "query", "schema": {"type": "string", "enum": ["start", "stop", "status"]}},
                       {"name": "instance_id", "in": "query", "schema": {"type": "string"}},
                       {"name": "region", "in": "query", "schema": {"type": "string"}},
                       {"name": "wait", "in": "query", "schema": {"type": "boolean"}},
                       {"name": "api_key", "in": "query", "schema": {"type": "string"}}],
        "responses": {"200": ok("the outcome", ref("Object")), **errors("400", "401", "404", "409", "502", "503", "504")}}},
    "/api/Metrics": {"get": {"operationId": "Metrics", "summary": "Prometheus (OpenMetrics) text: fleet gauges, process counters",
        "responses": {"200": ok("OpenMetrics text", {"type": "string"}, "application/openmetrics-text"), **errors("401", "503")}}},
    "/api/Dashboard": {"get": {"operationId": "Dashboard",
        "summary": "The dashboard page (HTML), or its data (?view=data); the key may be given as ?code=",
        "security": [{"functionKey": []}, {"functionKeyQuery": []}, {"apiKey": []}, {"apiKeyQuery": []}],
        # `code` is a security scheme here (apiKeyQuery / functionKeyQuery), not a parameter.
        "parameters": [{"name": "view", "in": "query", "schema": {"type": "string", "enum": ["page", "data"], "default": "page"}}],
        "responses": {"200": {"description": "the page (text/html), or with ?view=data its data",
                              "content": {"application/json": {"schema": ref("DashboardData")},
                                          "text/html": {"schema": {"type": "string"}}}},
                      **errors("400", "401", "503")}}},
    "/api/openapi.json": {"get": {"operationId": "OpenApi", "summary": "This document",
        "responses": {"200": ok("OpenAPI 3.1", {"type": "object"}), **errors("401")}}},
}

doc = {
    "openapi": "3.1.0",
    "info": {"title": "gamefleet", "version": "0.1.0",
             "description": "Game-server fleet manager for Azure Container Instances, as an Azure Functions custom handler. Every error is the Error schema."},
    "servers": [{"url": "/"}],
    "security": [{"functionKey": []}, {"functionKeyQuery": []}, {"apiKey": []}],
    "paths": paths,
    "components": {
        "schemas": schemas,
        "securitySchemes": {
            "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key",
                            "description": "Azure Functions function key (checked by the host)"},
            "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key",
                       "description": "one of GAMEFLEET_API_KEYS (checked by gamefleet)"},
            "apiKeyQuery": {"type": "apiKey", "in": "query", "name": "code",
                            "description": "one of GAMEFLEET_API_KEYS as ?code= (GET /api/Dashboard only, for a browser)"},
            "sessionToken": {"type": "http", "scheme": "bearer", "description": "the container's own session token"},
            "sessionTokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
            "openstackApiKeyQuery": {"type": "apiKey", "in": "query", "name": "api_key"},
        },
    },
}
out = pathlib.Path(__file__).resolve().parent.parent / "src/http/openapi.json"
text = json.dumps(doc, indent=1) + "\n"
if sys.argv[1:] == ["--check"]:  # .ci/run: the committed document is this file's output
    if out.read_text() != text:
        sys.exit(f"{out} is not what docs/openapi.py writes: run docs/openapi.py and commit both")
else:
    out.write_text(text)
