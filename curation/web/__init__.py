"""Web crawl data: main-text extraction (:mod:`curation.web.extract`, stage ``extract``) and URL
blocklists (:mod:`curation.web.urls`, stage ``url_filter``). WARC and WET files are read by
:mod:`curation.io.formats.warc`; the ``web`` preset chains the three (:mod:`curation.config`)."""
