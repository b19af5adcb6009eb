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

Options: ``src_field``, ``src_port_field``, ``dest_field``, ``dest_port_field``,
``stime_field``, ``etime_field``, ``cid_field``, ``proto_field`` (field names) and
``force`` (re-extract even when the archive holds the flow).
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
    [cid_field=community_id] [proto_field=proto] [force=false]

    Extracts each event's connection into the capme archive and adds pcap_path,
    pcap_packets, pcap_bytes, community_id and capme_error."""

    src_field = Option(require=False, default="src", validate=validators.Fieldname())
    src_port_field = Option(require=False, default="src_port", validate=validators.Fieldname())
    dest_field = Option(require=False, default="dest", validate=validators.Fieldname())
    dest_port_field = Option(require=False, default="dest_port", validate=validators.Fieldname())
    stime_field = Option(require=False, default="startTime", validate=validators.Fieldname())
    etime_field = Option(require=False, default="endTime", validate=validators.Fieldname())
    cid_field = Option(require=False, default="community_id", validate=validators.Fieldname())
    proto_field = Option(require=False, default="proto", validate=validators.Fieldname())
    force = Option(require=False, default=False, validate=validators.Boolean())

    def stream(self, records):
        fields = {
            "sip": self.src_field, "spt": self.src_port_field, "dip": self.dest_field,
            "dpt": self.dest_port_field, "stime": self.stime_field, "etime": self.etime_field,
            "community_id": self.cid_field, "proto": self.proto_field,
        }
        try:
            extractor = capme_splunk.Extractor(capme_splunk.Config())
            setup_error = None
        except capme_splunk.ExtractError as e:
            extractor, setup_error = None, str(e)
        for record in records:
            req = capme_splunk.request_from(record, fields)
            if extractor is None:
                out = dict.fromkeys(capme_splunk.OUTPUT_FIELDS, "")
                out["capme_error"] = setup_error
            else:
                out = extractor.run(req, force=bool(self.force))
            record.update(out)
            yield record


if __name__ == "__main__":
    dispatch(CapmeCommand, sys.argv, sys.stdin, sys.stdout, __name__)
