"""The sandbox's HTTP front: one connection serves a client's many calls (keep-alive)."""

from __future__ import annotations

import http.client
import json

import boto3

from bootcamp.sandbox import control


def _connection(sandbox) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(control.HOST, sandbox.sandbox_port, timeout=10)


def test_one_connection_serves_calls_with_and_without_a_body(sandbox):
    conn = _connection(sandbox)
    try:
        conn.request("GET", "/_bootcamp/health")
        first = conn.getresponse()
        assert json.loads(first.read())["service"]
        assert first.getheader("Connection") != "close"
        sock = conn.sock
        conn.request("POST", "/_bootcamp/apps", body=b'["not", "an object"]')
        refused = conn.getresponse()
        assert refused.status == 400 and "JSON object" in json.loads(refused.read())["error"]
        conn.request("HEAD", "/_bootcamp/health")
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b""
        conn.request("GET", "/_bootcamp/health")
        again = conn.getresponse()
        assert json.loads(again.read())["service"]
        assert conn.sock is sock  # the same TCP connection all along
    finally:
        conn.close()


def test_a_client_asking_to_close_gets_its_connection_closed(sandbox):
    conn = _connection(sandbox)
    try:
        conn.request("GET", "/_bootcamp/health", headers={"Connection": "close"})
        answer = conn.getresponse()
        answer.read()
        assert answer.getheader("Connection") == "close"
    finally:
        conn.close()


def test_a_boto3_client_keeps_one_connection_across_calls(settings):
    s3 = boto3.client("s3", endpoint_url=control.endpoint(settings), region_name="us-east-1",
                      aws_access_key_id=settings.sandbox_account, aws_secret_access_key=control.SECRET)
    seen = []
    s3.meta.events.register("after-call.s3.*", lambda http_response, **_: seen.append(
        http_response.headers.get("Connection", "keep-alive")))
    s3.create_bucket(Bucket="kept-alive")
    s3.put_object(Bucket="kept-alive", Key="k", Body=b"x" * 2048)
    assert s3.head_object(Bucket="kept-alive", Key="k")["ContentLength"] == 2048
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept-alive"]
    assert seen == ["keep-alive"] * 4
