"""The interactive viewer (``docs/viewer.md``): a folder of static files - ``index.html``, its script and style,
``data.js`` (the result) and ``media/`` (browser-playable H.264 copies of the recordings and their preview
sprites) - that works from ``file://`` offline, with no server and nothing fetched from the network.

- :mod:`vidalign.viewer.media`: the browser copies and preview sprites of recordings;
- :mod:`vidalign.viewer.matrix`: the similarity matrix, downsampled for the page;
- :mod:`vidalign.viewer.payload`: what the page shows of an alignment, comparison, segmentation or retrieval;
- :mod:`vidalign.viewer.page`: writes the folder; :mod:`vidalign.viewer.serve`: ``vidalign view DIR``.
"""

from vidalign.viewer.page import write_page

__all__ = ["write_page"]
