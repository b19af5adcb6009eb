#!/usr/bin/env python
"""``| capme``: a streaming custom search command that extracts the pcap of each event's
connection into the archive configured in capme.conf.

For each event it reads the flow from configurable fields (defaults ``src``, ``src_port``,
``dest``, ``dest_port``, ``startTime``, ``endTime``, optional ``community_id`` and ``proto``)
and adds ``pcap_path``, ``pcap_packets``, ``pcap_bytes``, ``community_id`` and
``capme_error`` (empty on success; on failure the event is kept, with the error)::

    sourcetype=bro_conn | join src,src_port,dest,dest_port [search sourcetype=sguild]
    | eval startTime = floor(_time), endTime = round((startTime + duration),0)
    | table _time, startTime, endTime, src, src_port, dest, dest_port, uid
    | capme

With ``server = URL`` in capme.conf the events are looked up on that ``capme serve``
(``/api/v1/summary``; the Python standard library only, no compiled module) and each event also
gets ``pcap_url``, the server's ``/api/v1/pcap`` link for its flow and window.

Options: ``src_field``, ``src_port_field``, ``dest_field``, ``dest_port_field``,
``stime_field``, ``etime_field``, ``cid_field``, ``proto_field`` (field names) and
``force`` (re-extract even when the archive holds the flow).

Other ways to name the flow (as the CLI's ``--url`` and ``--zeek-uid``): ``url_field=F`` takes
it (and its window) from a CapMe/SOC URL in field F; ``uid_field=F`` from the Zeek conn.log
record of the uid in field F (``zeek_logs`` in capme.conf). An event whose URL or uid field is
non-empty is looked up that way, else by ``community_id``, else by its 5-tuple. ``pad=SECONDS``
widens every window, ``whole_flow=true`` extends it while the flow's packets go on.

``transcript=true`` also adds a ``transcript`` field: the flow's payload as ``capme
transcript`` shows it, in ``style=plain`` (default), ``capme`` or ``json``, at most
``maxtx=N`` payload bytes (default 500000), then ending with the notice ``[transcript
truncated at maxtx = N bytes: ...]``::

    sourcetype=bro_conn | head 1 | capme uid_field=uid transcript=true style=capme maxtx=100000
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import capme_splunk  # noqa: E402
from splunklib.searchcommands import (  # noqa: E402
    Configuration,
    Option,
    StreamingCommand,
    dispatch,
    validators,
)


@Configuration()
class CapmeCommand(StreamingCommand):
    """| capme [src_field=src] [src_port_field=src_port] [dest_field=dest]
    [dest_port_field=dest_port] [stime_field=startTime] [etime_field=endTime]
    [cid_field=community_id] [proto_field=proto] [url_field=F] [uid_field=F] [pad=SECONDS]
    [whole_flow=false] [force=false] [transcript=false] [style=plain] [maxtx=500000]

    Extracts each event's connection into the capme archive (or asks capme.conf's server)
    and adds pcap_path, pcap_packets, pcap_bytes, community_id, pcap_url and capme_error (and
    with transcript=true, transcript)."""

    src_field = Option(require=False, default="src", validate=validators.Fieldname())
    src_port_field = Option(require=False, default="src_port", validate=validators.Fieldname())
    dest_field = Option(require=False, default="dest", validate=validators.Fieldname())
    dest_port_field = Option(require=False, default="dest_port", validate=validators.Fieldname())
    stime_field = Option(require=False, default="startTime", validate=validators.Fieldname())
    etime_field = Option(require=False, default="endTime", validate=validators.Fieldname())
    cid_field = Option(require=False, default="community_id", validate=validators.Fieldname())
    proto_field = Option(require=False, default="proto", validate=validators.Fieldname())
    url_field = Option(require=False, default=None, validate=validators.Fieldname())
    uid_field = Option(require=False, default=None, validate=validators.Fieldname())
    pad = Option(require=False, default=None)
    whole_flow = Option(require=False, default=False, validate=validators.Boolean())
    force = Option(require=False, default=False, validate=validators.Boolean())
    transcript = Option(require=False, default=False, validate=validators.Boolean())
    style = Option(require=False, default="plain",
                   validate=validators.Set("plain", "capme", "json"))
    maxtx = Option(require=False, default=500000, validate=validators.Integer(minimum=1))

    def stream(self, records):
        fields = {
            "sip": self.src_field, "spt": self.src_port_field, "dip": self.dest_field,
            "dpt": self.dest_port_field, "stime": self.stime_field, "etime": self.etime_field,
            "community_id": self.cid_field, "proto": self.proto_field,
            "url": self.url_field, "zeek_uid": self.uid_field,
        }
        transcript = None
        if self.transcript:
            transcript = {"style": self.style, "maxtx": int(self.maxtx)}
        try:
            config = capme_splunk.Config()
            info = self.metadata.searchinfo
            password = capme_splunk.server_password(config, getattr(info, "splunkd_uri", ""),
                                                    getattr(info, "session_key", ""))
            extractor = capme_splunk.Extractor(config, pad=self.pad,
                                               whole_flow=bool(self.whole_flow),
                                               password=password)
            setup_error = None
        except capme_splunk.ExtractError as e:
            extractor, setup_error = None, str(e)
            # Splunk's error channel (the search's messages), besides each event's capme_error.
            self.write_error("capme: {}", setup_error)
        server_down = None
        for record in records:
            req = capme_splunk.request_from(record, fields)
            if extractor is None:
                out = dict.fromkeys(capme_splunk.OUTPUT_FIELDS, "")
                if transcript is not None:
                    out["transcript"] = ""
                out["capme_error"] = setup_error
            else:
                out = extractor.run(req, force=bool(self.force), transcript=transcript)
                down = extractor.server.down if extractor.server is not None else None
                if down is not None and server_down is None:
                    server_down = down
                    self.write_error("capme: {}", down)
            record.update(out)
            yield record

if __name__ == "__main__":
    dispatch(CapmeCommand, sys.argv, sys.stdin, sys.stdout, __name__)
