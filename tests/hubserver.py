"""A small Hugging Face Hub on 127.0.0.1 for the real huggingface_hub client: repo creation, preupload,
commits (files sent inline, 'regular' mode) and HEAD/GET downloads with X-Repo-Commit and ETag."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Hub:
    def __init__(self) -> None:
        self.repos: dict[str, dict] = {}  # repo -> {"refs": {name: sha}, "commits": {sha: {path: bytes}}}
        self.requests: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Hub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def commit(self, repo: str, files: dict[str, bytes], branch: str = "main") -> str:
        r = self.repos.setdefault(repo, {"refs": {}, "commits": {}})
        parent = r["commits"].get(r["refs"].get(branch), {})
        tree = {**parent, **files}
        sha = hashlib.sha1(json.dumps(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in tree.items())).encode()).hexdigest()
        r["commits"][sha] = tree
        r["refs"][branch] = sha
        return sha

    def _handler(self):
        hub = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a) -> None:  # quiet
                pass

            def _json(self, code: int, obj) -> None:
                body = json.dumps(obj).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _resolve(self, head: bool) -> None:
                m = re.match(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$", self.path.split("?")[0])
                if not m:
                    return self._json(404, {"error": "not found"})
                repo, rev, path = m.groups()
                r = hub.repos.get(repo)
                sha = r and (r["refs"].get(rev) or (rev if rev in r["commits"] else None))
                if not sha:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "RepoNotFound" if not r else "RevisionNotFound")
                    self.end_headers()
                    return
                data = r["commits"][sha].get(path)
                if data is None:
                    self.send_response(404)
                    self.send_header("X-Error-Code", "EntryNotFound")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("X-Repo-Commit", sha)
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def do_HEAD(self) -> None:
                hub.requests.append("HEAD " + self.path)
                self._resolve(head=True)

            def do_GET(self) -> None:
                hub.requests.append("GET " + self.path)
                self._resolve(head=False)

            def do_POST(self) -> None:
                hub.requests.append("POST " + self.path)
                path = self.path.split("?")[0]
                body = self._body()
                if path == "/api/repos/create":
                    spec = json.loads(body)
                    repo = f"{spec['organization']}/{spec['name']}" if spec.get("organization") else spec["name"]
                    hub.repos.setdefault(repo, {"refs": {}, "commits": {}})
                    return self._json(200, {"url": f"{hub.url}/{repo}", "name": repo})
                if path == "/api/validate-yaml":  # the model card's front matter, as the Hub checks it
                    content = json.loads(body)["content"]
                    if not content.startswith("---\n") or "\n---\n" not in content[3:]:
                        return self._json(400, {"error": "README.md has no YAML front matter"})
                    return self._json(200, {"errors": [], "warnings": []})
                m = re.match(r"^/api/models/([^/]+/[^/]+)/(preupload|commit)/(.+)$", path)
                if not m:
                    return self._json(404, {"error": f"unknown endpoint {path}"})
                repo, kind, rev = m.groups()
                if repo not in hub.repos:
                    return self._json(404, {"error": "repository not found"})
                if kind == "preupload":
                    files = json.loads(body)["files"]
                    return self._json(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False} for f in files]})
                files = {}
                for line in body.splitlines():
                    item = json.loads(line)
                    if item["key"] == "file":
                        files[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                sha = hub.commit(repo, files, rev)
                return self._json(200, {"commitUrl": f"{hub.url}/{repo}/commit/{sha}", "commitOid": sha})

        return H
