#!/usr/bin/env bash
# Certificates for a 3-member etcd cluster with TLS between members and to clients, and a client
# certificate for Signalbox: a private CA, one server+peer certificate per member (its name and IP
# as SANs), and one client certificate. Run on an admin machine; copy each member its own files.
#
#   ./make-certs.sh OUT_DIR etcd-1=10.0.0.1 etcd-2=10.0.0.2 etcd-3=10.0.0.3
#
# Writes OUT_DIR/ca.pem (give it to every member and every Signalbox host), OUT_DIR/ca-key.pem
# (keep it offline), OUT_DIR/<member>.pem and <member>-key.pem, and signalbox-client.pem and
# signalbox-client-key.pem. EC P-256 keys, valid for 825 days.
set -euo pipefail
out=${1:?usage: make-certs.sh OUT_DIR NAME=IP...}
shift
[ $# -ge 1 ] || { echo "usage: make-certs.sh OUT_DIR NAME=IP..." >&2; exit 2; }
mkdir -p "$out"
umask 077
cd "$out"
days=825
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

if [ ! -f ca.pem ]; then
  key ca-key.pem
  openssl req -x509 -new -key ca-key.pem -out ca.pem -days 3650 -subj "/CN=etcd CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
fi

sign() { # name subject extensions
  key "$1-key.pem"
  openssl req -new -key "$1-key.pem" -out "$1.csr" -subj "$2"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days "$days" -out "$1.pem" -extfile "$1.ext"
  rm -f "$1.csr" "$1.ext"
}

for member in "$@"; do
  name=${member%%=*}
  ip=${member#*=}
  # One certificate serves both roles: clients (serverAuth) and the other members (peer
  # connections are TLS both ways, so clientAuth too).
  sign "$name" "/CN=$name" "subjectAltName=DNS:$name,IP:$ip,IP:127.0.0.1
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth,clientAuth"
done

# The CN is the etcd user when etcd runs with --client-cert-auth and no password is given;
# Signalbox also sends a user and password (SIGNALBOX_ETCD_USER/_PASSWORD), which win.
sign signalbox-client "/CN=signalbox" "keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth"
chmod 600 ./*-key.pem
echo "certificates in $out: ca.pem, $(printf '%s ' "${@%%=*}")signalbox-client"
