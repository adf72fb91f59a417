#!/usr/bin/env bash
# A throwaway certificate authority and a broker certificate for the local secured broker
# (deploy/kafka/secured.properties), for development and tests only. Needs openssl.
#
#   deploy/kafka/tls-certs.sh DIR
#
# Writes into DIR (created if missing; existing files are kept, so it is idempotent):
#   ca.key, ca.pem           the CA: clients trust ca.pem (SLA_KAFKA_SSL_CAFILE=DIR/ca.pem)
#   broker.key, broker.pem   the broker's key and certificate, signed by the CA, valid for
#                            IP 127.0.0.1 and DNS localhost (clients check the host name)
#   broker.p12               the broker's PKCS12 keystore (key, certificate, CA), password
#                            $KAFKA_KEYSTORE_PASSWORD (default: changeit)
set -euo pipefail

[[ $# -eq 1 ]] || {
    echo "usage: $0 DIR" >&2
    exit 2
}
command -v openssl >/dev/null || {
    echo "error: openssl not found (Debian: openssl)" >&2
    exit 1
}
DIR="$1"
PASSWORD="${KAFKA_KEYSTORE_PASSWORD:-changeit}"
# Long enough never to expire under a developer's state dir, short of clients' 825-day cap
# for server certificates (macOS and some TLS stacks refuse longer ones).
DAYS=825

mkdir -p "$DIR"
cd "$DIR"
if [[ -s broker.p12 && -s ca.pem ]]; then
    exit 0
fi
umask 077 # keys readable by their owner only

openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$DAYS" \
    -keyout ca.key -out ca.pem -subj "/CN=sla-worker development CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" 2>/dev/null

openssl req -newkey rsa:2048 -nodes -sha256 -keyout broker.key -out broker.csr \
    -subj "/CN=localhost" 2>/dev/null
cat >broker.ext <<'EXT'
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid,issuer
EXT
openssl x509 -req -sha256 -days "$DAYS" -in broker.csr -CA ca.pem -CAkey ca.key \
    -CAcreateserial -extfile broker.ext -out broker.pem 2>/dev/null
# Java 17 reads OpenSSL 3's default PKCS12 encryption (AES-256, PBKDF2).
openssl pkcs12 -export -name broker -in broker.pem -inkey broker.key -certfile ca.pem \
    -passout "pass:$PASSWORD" -out broker.p12
rm -f broker.csr broker.ext ca.srl
chmod 644 ca.pem broker.pem
