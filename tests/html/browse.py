#!/usr/bin/env python3
"""Opens a page in headless Chromium the way a reviewer would, and says what the browser saw.

    browse.py PAGE SCREENSHOT.png

Chromium runs twice on PAGE (a file path): once to take a screenshot, once to dump the DOM it
built (`--dump-dom`: after parsing, so markup injected by escaping bugs would show up as real
elements). Every host name resolves to nothing (`--host-resolver-rules`), background services are
off, and both runs write a net log; every URL the page asked the network stack for is reported,
so a page that tries to load a font, a stylesheet or an image is caught even though it cannot
succeed.

Prints one JSON object on stdout: element counts, event-handler and src/href attributes, the
matrix rows, the chart bars, the failure headings and diffs, the whole text, and the requests.
Standard library only.
"""

import json
import os
import subprocess
import sys
import tempfile
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
        "track", "wbr"}


class Node:
    def __init__(self, tag, attrs, parent):
        self.tag, self.attrs, self.parent, self.children = tag, dict(attrs), parent, []

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def walk(self):
        for c in self.children:
            if isinstance(c, Node):
                yield c
                yield from c.walk()

    def classes(self):
        return (self.attrs.get("class") or "").split()


class Tree(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", [], None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, attrs, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Node(tag, attrs, self.current))

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def chromium(profile, netlog, args):
    cmd = [
        "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--disable-features=Translate,OptimizationHints,MediaRouter",
        "--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars",
        f"--user-data-dir={profile}", f"--log-net-log={netlog}",
        "--net-log-capture-mode=Everything",
    ] + args
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, DBUS_SESSION_BUS_ADDRESS="disabled:"))
    if done.returncode != 0:
        sys.exit(f"chromium failed ({done.returncode}): {done.stderr[-3000:]}")
    return done.stdout


def page_requests(netlog):
    """The URLs the page asked the network stack for.

    Chromium itself talks to its update and account services whatever the flags; those requests
    belong to no page (initiator "not an origin", network isolation key "null null"). A request
    the page makes is keyed to the page's site, file://, which is what is kept here."""
    with open(netlog, encoding="utf-8") as f:
        text = f.read()
    try:
        log = json.loads(text)
    except json.JSONDecodeError:
        # Chromium may leave the closing brackets off when it exits quickly.
        log = json.loads(text.rstrip().rstrip(",") + "]}")
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    found = set()
    for event in log.get("events", []):
        params = event.get("params", {})
        if event.get("type") != start_job or "url" not in params:
            continue
        if "file://" in params.get("network_isolation_key", "") or params.get("initiator") == "null":
            found.add(params["url"])
    return sorted(found)


def main():
    page, screenshot = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    url = "file://" + page
    with tempfile.TemporaryDirectory() as tmp:
        shot_log, dom_log = os.path.join(tmp, "shot.json"), os.path.join(tmp, "dom.json")
        chromium(os.path.join(tmp, "p1"), shot_log,
                 ["--window-size=1280,2400", f"--screenshot={screenshot}", url])
        dom = chromium(os.path.join(tmp, "p2"), dom_log, ["--dump-dom", url])
        requests = sorted(set(page_requests(shot_log)) | set(page_requests(dom_log)))

    tree = Tree()
    tree.feed(dom)
    tree.close()
    nodes = list(tree.root.walk())
    by_id = {n.attrs["id"]: n for n in nodes if "id" in n.attrs}

    def section(name):
        return list(by_id[name].walk()) if name in by_id else []

    counts = {}
    for n in nodes:
        counts[n.tag] = counts.get(n.tag, 0) + 1
    out = {
        "screenshot_bytes": os.path.getsize(screenshot),
        "elements": counts,
        "event_handlers": [f"{n.tag} {k}" for n in nodes for k in n.attrs if k.startswith("on")],
        "sources": [f"{n.tag} {k}={v}" for n in nodes for k, v in n.attrs.items()
                    if k in ("src", "href", "srcset", "action", "data", "poster")],
        "verdict": by_id["verdict"].text() if "verdict" in by_id else None,
        "matrix": [
            {"platform": n.attrs["data-platform"],
             "cells": [c.text().strip() for c in n.children
                       if isinstance(c, Node) and c.tag == "td"]}
            for n in section("matrix") if n.tag == "tr" and "data-platform" in n.attrs
        ],
        "bars": [
            {"platform": n.attrs.get("data-platform"), "mode": n.attrs.get("data-mode"),
             "phases": [c.attrs["data-phase"] for c in n.walk() if "data-phase" in c.attrs],
             "text": n.text()}
            for n in section("time") if n.tag == "g" and "bar" in n.classes()
        ],
        "failures": [
            next(c for c in n.walk() if c.tag == "h3").text()
            for n in section("failures") if n.tag == "div" and "failure" in n.classes()
        ],
        "diffs": [
            [[c.attrs.get("class"), c.text()] for c in n.children if isinstance(c, Node)]
            for n in section("failures") if n.tag == "pre" and "diff" in n.classes()
        ],
        "not_tested": by_id["not-tested"].text() if "not-tested" in by_id else None,
        "text": tree.root.text(),
        "requests": requests,
    }
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
