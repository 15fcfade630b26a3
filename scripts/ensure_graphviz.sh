#!/usr/bin/env bash
# Graphviz's `dot` renders the stage pictures. Install it when missing and we are root;
# otherwise say how (everything else still works: pictures fall back to DOT text).
if command -v dot >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing graphviz (for the 'dot' binary)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq graphviz >/dev/null) \
    || echo "warning: could not install graphviz; pictures will fall back to DOT text"
else
  echo "note: Graphviz 'dot' not found. Install it (e.g. 'sudo apt-get install graphviz') to render pictures;"
  echo "      without it, to_dot() still works and notebooks show the DOT text."
fi
exit 0
