#!/usr/bin/env bash
# deploy_drift_test.sh: deploy/ must be exactly charts/iscsi-csi rendered with its defaults
# (scripts/render-deploy.sh --check prints the difference). Exit 77 when Helm cannot be had.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
exec bash "$root/scripts/render-deploy.sh" --check
