#!/usr/bin/env bash
# Builds the Debian package: target/debian/opsbook_<version>_<arch>.deb with
#   /usr/bin/opsbook                          the release binary, stripped
#   /usr/share/man/man1/opsbook*.1.gz         man pages from the clap tree
#   /usr/share/bash-completion/completions/opsbook, zsh and fish completions
#   /lib/systemd/system/opsbook-serve.service, and timer pairs for
#     daily-check and backup                  (contrib/systemd/)
#   /etc/opsbook/README                       a conffile: kept on removal
# dpkg-deb builds it (no tool beyond Debian's own). OPSBOOK_BIN=PATH packs
# that binary instead of building one (the tests pack the debug build).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[deb.sh] %s\n' "$*" >&2; }

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
if [ -n "${OPSBOOK_BIN:-}" ]; then
  bin="$OPSBOOK_BIN"
else
  say "cargo build --release"
  cargo build --release --locked -q
  bin="${CARGO_TARGET_DIR:-target}/release/opsbook"
fi
out="${CARGO_TARGET_DIR:-target}/debian"
root="$out/opsbook_${version}_$arch"
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/usr/share/man/man1" \
  "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" \
  "$root/usr/share/fish/vendor_completions.d" "$root/lib/systemd/system" \
  "$root/etc/opsbook" "$root/usr/share/doc/opsbook"

install -m 0755 "$bin" "$root/usr/bin/opsbook"
strip --strip-unneeded "$root/usr/bin/opsbook" 2>/dev/null || true
"$root/usr/bin/opsbook" man "$root/usr/share/man/man1" --quiet
gzip -9n "$root"/usr/share/man/man1/*.1
"$root/usr/bin/opsbook" completions bash > "$root/usr/share/bash-completion/completions/opsbook"
"$root/usr/bin/opsbook" completions zsh > "$root/usr/share/zsh/vendor-completions/_opsbook"
"$root/usr/bin/opsbook" completions fish > "$root/usr/share/fish/vendor_completions.d/opsbook.fish"
install -m 0644 contrib/systemd/* "$root/lib/systemd/system/"
install -m 0644 contrib/etc/README "$root/etc/opsbook/README"
install -m 0644 LICENSE "$root/usr/share/doc/opsbook/copyright"
chmod 0644 "$root"/usr/share/bash-completion/completions/opsbook \
  "$root"/usr/share/zsh/vendor-completions/_opsbook "$root"/usr/share/fish/vendor_completions.d/opsbook.fish

size=$(du -sk "$root" | cut -f1)
description=$(sed -n 's/^description = "\(.*\)"$/\1/p' Cargo.toml | head -1)
cat > "$root/DEBIAN/control" <<EOF
Package: opsbook
Version: $version
Architecture: $arch
Maintainer: opsbook <ops@opsbook.invalid>
Installed-Size: $size
Depends: libc6
Recommends: docker.io | docker-ce
Suggests: bash-completion
Section: admin
Priority: optional
Homepage: https://github.com/opsbook/opsbook
Description: runbook of a Docker deployment, executed
 $description.
 Start with \`opsbook init\` in /etc/opsbook: it writes the runbook of the
 compose project running on this host.
EOF
echo /etc/opsbook/README > "$root/DEBIAN/conffiles"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
deb="$out/opsbook_${version}_$arch.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
rm -rf "$root"
say "$deb ($(du -h "$deb" | cut -f1))"
echo "$deb"
