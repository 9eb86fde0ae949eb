"""``depth3d devices``: list the connected RealSense cameras."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("devices", help="list connected cameras",
                       description="List connected RealSense cameras (name, serial, firmware, USB). With none, "
                                   "say so and list the other sources (recordings, TUM folders, sim:, ...).")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from depth3d.capture.realsense import list_devices, no_camera_message

    devices = list_devices()
    if args.json:
        print(json.dumps(devices, indent=2))
        return 0
    if not devices:
        print(no_camera_message())
        return 0
    for d in devices:
        print(f"{d.get('name', '?')}  serial {d.get('serial', '?')}  firmware {d.get('firmware', '?')}  "
              f"USB {d.get('usb', '?')}")
    return 0
