#!/usr/bin/env bash
# Makes the TLS test certificates in $1 (an empty temporary folder) with the openssl command:
#   ca.pem/ca.key              the test CA
#   server.pem/.key            CN=localhost, SAN DNS:localhost, IP:127.0.0.1, signed by the CA
#   client.pem/.key            CN=sensor-7, SAN DNS:device-42.example, signed by the CA (client auth)
#   expired-server.pem/.key    like server, but valid only in 2020
#   expired-client.pem/.key    like client, but valid only in 2020
#   wrong-host.pem/.key        signed by the CA, but for wrong.example only
#   other-ca.pem/.key          another CA
#   other-server.pem/.key      like server, but signed by the other CA
#   other-client.pem/.key      like client, but signed by the other CA
set -euo pipefail
dir=$1
cd "$dir"

ca() {  # name subject
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$1.key" -out "$1.pem" -days 3650 -subj "$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
}

# leaf NAME CA SUBJECT SAN USAGE [START END]: a certificate signed by CA through `openssl ca`, which
# can set any validity period (x509 -req cannot backdate on OpenSSL 3.0).
leaf() {
    local name=$1 signer=$2 subject=$3 san=$4 usage=$5 start=${6:-} end=${7:-}
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$name.key" -out "$name.csr" -subj "$subject" 2>/dev/null
    mkdir -p "db-$signer"
    touch "db-$signer/index.txt"
    [ -f "db-$signer/serial" ] || echo 1000 > "db-$signer/serial"
    cat > "$name.cnf" <<CNF
[ca]
default_ca = test
[test]
database = db-$signer/index.txt
serial = db-$signer/serial
new_certs_dir = db-$signer
certificate = $signer.pem
private_key = $signer.key
default_md = sha256
default_days = 825
policy = any
unique_subject = no
copy_extensions = none
x509_extensions = ext
[any]
commonName = supplied
[ext]
basicConstraints = CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = $usage
subjectAltName = $san
CNF
    local dates=()
    if [ -n "$start" ]; then dates=(-startdate "$start" -enddate "$end"); fi
    openssl ca -batch -notext -config "$name.cnf" -in "$name.csr" -out "$name.pem" "${dates[@]}" 2>/dev/null
    rm -f "$name.csr" "$name.cnf"
}

ca ca "/CN=Junction Test CA"
ca other-ca "/CN=Other Test CA"
leaf server ca "/CN=localhost" "DNS:localhost,IP:127.0.0.1" serverAuth
leaf client ca "/CN=sensor-7" "DNS:device-42.example" clientAuth
leaf expired-server ca "/CN=localhost" "DNS:localhost,IP:127.0.0.1" serverAuth 20200101000000Z 20200201000000Z
leaf expired-client ca "/CN=sensor-7" "DNS:device-42.example" clientAuth 20200101000000Z 20200201000000Z
leaf wrong-host ca "/CN=wrong.example" "DNS:wrong.example" serverAuth
leaf other-server other-ca "/CN=localhost" "DNS:localhost,IP:127.0.0.1" serverAuth
leaf other-client other-ca "/CN=sensor-7" "DNS:device-42.example" clientAuth
rm -rf db-ca db-other-ca
echo made
