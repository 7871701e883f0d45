"""`wms-simulator`: serve the WMS simulator until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from wms_simulator import WMSSimulator


def main(argv: list[str] | None = None) -> int:
    """Parse options, serve, print the base URL as the first stdout line."""
    parser = argparse.ArgumentParser(prog="wms-simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--orders", type=int, default=1000, help="orders to seed (~4 lines each)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--facilities",
        type=int,
        default=None,
        metavar="N",
        help="give each company N facilities (GNOS: DC01.., OTHR: DC90..), the orders spread "
        "evenly over them (default: GNOS DC01, DC02; OTHR DC90)",
    )
    parser.add_argument(
        "--page-latency", type=float, default=0, help="seconds each list page takes (0 = off)"
    )
    parser.add_argument(
        "--row-latency", type=float, default=0, help="seconds each row of a page adds (0 = off)"
    )
    parser.add_argument(
        "--live-latency",
        type=float,
        default=0,
        metavar="SCALE",
        help="the live WMS's latency (1,000-row pages in 17-21 s: 0.018 s a row) times SCALE: "
        "1 = live speed, 0.01 = 100 times faster (instead of --page-latency/--row-latency)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="requests served at once; more queue (0 = unbounded)",
    )
    parser.add_argument(
        "--profile",
        choices=("default", "live"),
        default="default",
        help="live: the record shapes, describe/ and field sets observed on a live WMS "
        "(its latency: --live-latency)",
    )
    parser.add_argument(
        "--cursor-ignores-ordering",
        action="store_true",
        help="sequenced cursors return rows in id order whatever `ordering` asks",
    )
    parser.add_argument(
        "--clock-skew-minutes",
        type=float,
        default=0,
        help="the WMS's clock (data and Date header) runs this far ahead of the host's "
        "(behind when negative)",
    )
    args = parser.parse_args(argv)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    for name in ("page_latency", "row_latency", "workers"):
        if getattr(args, name) < 0:
            parser.error(f"--{name.replace('_', '-')} must be 0 (off) or positive")
    if args.facilities is not None and args.facilities < 1:
        parser.error("--facilities must be at least 1")
    if args.live_latency < 0:
        parser.error("--live-latency must be 0 (off) or positive")
    if args.live_latency and (args.page_latency or args.row_latency):
        parser.error("--live-latency replaces --page-latency/--row-latency: give one or the other")
    sim = WMSSimulator(
        orders=args.orders,
        seed=args.seed,
        host=args.host,
        port=args.port,
        page_latency=args.page_latency,
        row_latency=args.row_latency,
        workers=args.workers,
        live_latency_scale=args.live_latency,
        cursor_ignores_ordering=args.cursor_ignores_ordering,
        profile=args.profile,
        facilities=args.facilities,
        clock_skew_minutes=args.clock_skew_minutes,
    )
    with sim:
        sys.stdout.write(f"WMS simulator listening on {sim.base_url}\n")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
