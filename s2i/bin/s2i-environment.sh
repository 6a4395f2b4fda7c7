# Sourced by assemble and run. read_s2i_environment FILE exports the KEY=VALUE lines of an s2i
# .s2i/environment file, as the s2i binary does, for builds and runs without it. Variables already
# set to a non-empty value (s2i -e, podman -e, Kubernetes env) win. Nothing in the file is
# executed; a line that is not KEY=VALUE, a comment or blank is an error naming the file and line.
# Needs die().
read_s2i_environment() {
  local file=$1 line key value n=0
  [[ -f "$file" ]] || return 0
  while IFS= read -r line || [[ -n "$line" ]]; do
    n=$((n + 1))
    line=${line%$'\r'}
    [[ -z "${line//[[:space:]]/}" || "$line" =~ ^[[:space:]]*# ]] && continue
    if [[ ! "$line" =~ ^[[:space:]]*([A-Za-z_][A-Za-z0-9_]*)=(.*)$ ]]; then
      die "$file line $n is not KEY=VALUE: $line"
    fi
    key=${BASH_REMATCH[1]}
    value=${BASH_REMATCH[2]}
    if [[ "$value" =~ ^\"(.*)\"$ || "$value" =~ ^\'(.*)\'$ ]]; then value=${BASH_REMATCH[1]}; fi
    if [[ -z "${!key:-}" ]]; then export "$key=$value"; fi
  done < "$file"
}
