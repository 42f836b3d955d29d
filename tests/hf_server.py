"""A local stand-in for the Hugging Face Hub's HTTP routes, on 127.0.0.1, for the tests.

It answers what `huggingface_hub` asks when movinet pushes and downloads:

    POST /api/repos/create                              create a model repository
    POST /api/validate-yaml                             a model card's metadata check
    POST /api/models/ORG/NAME/preupload/REV             upload modes: every file "regular" (inline)
    POST /api/models/ORG/NAME/commit/REV                ndjson: header + base64 files -> a new commit
    HEAD|GET /ORG/NAME/resolve/REV/FILE                 a file (ETag = its git blob id, X-Repo-Commit)

Writes need `Authorization: Bearer <token>` (401 otherwise); reads are public. `corrupt[FILE]`
makes downloads of FILE send different bytes under the right ETag (a transfer gone wrong).
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import threading
from dataclasses import dataclass, field


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(f"blob {len(data)}\0".encode() + data).hexdigest()  # noqa: S324 - git's id


@dataclass
class Repo:
    files: dict[str, bytes] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    private: bool = False


class HubServer:
    """The routes above over in-memory repositories; `url` is the endpoint to put in HF_ENDPOINT."""

    def __init__(self, token: str = "hf_test_token") -> None:
        self.token = token
        self.repos: dict[str, Repo] = {}
        self.corrupt: set[str] = set()
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                server._post(self)

            def do_GET(self) -> None:  # noqa: N802
                server._resolve(self, body=True)

            def do_HEAD(self) -> None:  # noqa: N802
                server._resolve(self, body=False)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5.0)

    # -- helpers -----------------------------------------------------------------------------------

    @staticmethod
    def _reply(handler: http.server.BaseHTTPRequestHandler, status: int, payload: object = None,
               headers: dict[str, str] | None = None, body: bool = True) -> None:
        data = json.dumps(payload).encode() if payload is not None else b""
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            handler.send_header(key, value)
        handler.end_headers()
        if body:
            handler.wfile.write(data)

    def _authorized(self, handler: http.server.BaseHTTPRequestHandler) -> bool:
        return handler.headers.get("Authorization") == f"Bearer {self.token}"

    @staticmethod
    def _read_body(handler: http.server.BaseHTTPRequestHandler) -> bytes:
        length = int(handler.headers.get("Content-Length") or 0)
        return handler.rfile.read(length) if length else b""

    # -- routes ------------------------------------------------------------------------------------

    def _post(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?")[0]
        self.requests.append(f"POST {path}")
        body = self._read_body(handler)
        if not self._authorized(handler):
            self._reply(handler, 401, {"error": "Invalid credentials in Authorization header"},
                        {"X-Error-Message": "Invalid credentials in Authorization header"})
            return
        if path == "/api/repos/create":
            request = json.loads(body)
            repo_id = f"{request['organization']}/{request['name']}"
            self.repos.setdefault(repo_id, Repo(private=request.get("visibility") == "private"))
            self._reply(handler, 200, {"url": f"{self.url}/{repo_id}", "name": repo_id})
        elif path == "/api/validate-yaml":
            self._reply(handler, 200, {"errors": [], "warnings": []})
        elif path.startswith("/api/models/") and "/preupload/" in path:
            files = json.loads(body)["files"]
            self._reply(handler, 200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False}
                                                 for f in files]})
        elif path.startswith("/api/models/") and "/commit/" in path:
            repo_id = path[len("/api/models/"):].split("/commit/")[0]
            self._commit(handler, repo_id, body)
        else:
            self._reply(handler, 404, {"error": f"no route {path}"})

    def _commit(self, handler: http.server.BaseHTTPRequestHandler, repo_id: str, body: bytes) -> None:
        repo = self.repos.get(repo_id)
        if repo is None:
            self._reply(handler, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"})
            return
        for line in body.splitlines():
            item = json.loads(line)
            if item["key"] == "file":
                repo.files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
        commit = hashlib.sha1(body).hexdigest()  # noqa: S324 - an id, not security
        repo.commits.append(commit)
        self._reply(handler, 200, {"commitUrl": f"{self.url}/{repo_id}/commit/{commit}", "commitOid": commit,
                                   "pullRequestUrl": None})

    def _resolve(self, handler: http.server.BaseHTTPRequestHandler, *, body: bool) -> None:
        path = handler.path.split("?")[0]
        self.requests.append(f"{handler.command} {path}")
        parts = path.strip("/").split("/")
        if len(parts) < 5 or parts[2] != "resolve":
            self._reply(handler, 404, {"error": "not found"}, body=body)
            return
        repo_id, revision, filename = "/".join(parts[:2]), parts[3], "/".join(parts[4:])
        repo = self.repos.get(repo_id)
        if repo is None:
            self._reply(handler, 404, {"error": "Repository not found"}, {"X-Error-Code": "RepoNotFound"}, body=body)
            return
        if revision != "main" and revision not in repo.commits:
            self._reply(handler, 404, {"error": "Revision not found"}, {"X-Error-Code": "RevisionNotFound"},
                        body=body)
            return
        if filename not in repo.files:
            self._reply(handler, 404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"}, body=body)
            return
        data = repo.files[filename]
        sent = bytes([data[0] ^ 0xFF]) + data[1:] if filename in self.corrupt else data
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(sent)))
        handler.send_header("ETag", f'"{git_blob_id(data)}"')
        handler.send_header("X-Repo-Commit", repo.commits[-1])
        handler.end_headers()
        if body:
            handler.wfile.write(sent)
