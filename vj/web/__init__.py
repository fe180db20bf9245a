"""The browser control surface `vj run` serves: static page, one WebSocket at /ws, a JPEG preview.

- `context`: what the surface may read and do in a show (built by `vj run` from the session);
- `protocol`: the JSON messages a page sends, validated and written into the store (source "web");
- `state`: the `state` and `values` messages the server pushes;
- `preview`: the newest-frame slot on the fan-out and the JPEG encoder;
- `server`: the `websockets` server on its own thread and event loop;
- `static/`: the page (plain HTML, CSS and JavaScript; nothing is fetched from the internet).
"""
