#!/usr/bin/env bash
# make up: a 2-node k8ts cluster on this machine, then the seed's walkthrough — two pods on different
# nodes, each pinging the other through the real Linux path — and the cluster is left running.
set -euo pipefail
cd "$(dirname "$0")/.."
k8ts=./bin/k8ts
name=${K8TS_CLUSTER:-default}
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

if [ "$(id -u)" != 0 ]; then echo "make up needs root (network namespaces, links, runc)" >&2; exit 1; fi
if $k8ts status 2>/dev/null | grep "^$name:" >/dev/null; then
  say "Cluster $name already exists; using it (k8ts down --name $name removes it)"
else
  say "k8ts up --name $name --nodes 2"
  $k8ts up --name "$name" --nodes 2
fi
export KUBECONFIG=$($k8ts kubeconfig --name "$name")
kubectl() { command kubectl "$@"; }

say "kubectl get nodes -o wide"
kubectl get nodes -o wide

say "kubectl apply -f examples/two-pods.yaml"
kubectl apply -f examples/two-pods.yaml
kubectl wait --for=condition=Ready pod/pod-a pod/pod-b --timeout=60s >/dev/null

say "kubectl get pods -o wide"
kubectl get pods -o wide
a_ip=$(kubectl get pod pod-a -o jsonpath='{.status.podIP}')
b_ip=$(kubectl get pod pod-b -o jsonpath='{.status.podIP}')
a_node=$(kubectl get pod pod-a -o jsonpath='{.spec.nodeName}')
b_node=$(kubectl get pod pod-b -o jsonpath='{.spec.nodeName}')

say "kubectl exec pod-a -- ping -c 3 $b_ip        (pod-a on $a_node → pod-b on $b_node)"
kubectl exec pod-a -- ping -c 3 "$b_ip"
say "kubectl exec pod-b -- ping -c 3 $a_ip        (pod-b on $b_node → pod-a on $a_node)"
kubectl exec pod-b -- ping -c 3 "$a_ip"

say "The path a packet from pod-a to pod-b took (kubectl exec pod-a -- traceroute -n $b_ip)"
kubectl exec pod-a -- traceroute -n -q 1 -w 1 "$b_ip" || true
a_gw=$(kubectl exec pod-a -- ip route show default | awk '/^default/{print $3; exit}')
b_node_ip=$(kubectl get node "$b_node" -o jsonpath='{.status.addresses[?(@.type=="InternalIP")].address}')
cat <<EOT
  pod-a eth0 ($a_ip) → veth → cbr0 on $a_node ($a_gw, pod-a's default gateway)
  → $a_node's routing table: $(kubectl get node "$b_node" -o jsonpath='{.spec.podCIDR}') via $b_node_ip (host-gw route, no NAT)
  → node network → $b_node eth0 ($b_node_ip) → cbr0 on $b_node → veth → pod-b eth0 ($b_ip)
  (seen from pod-b, the packet still comes from $a_ip: pods reach each other without NAT)
EOT

say "kubectl apply -f examples/web-service.yaml        (two web pods behind a LoadBalancer Service)"
kubectl apply -f examples/web-service.yaml
kubectl wait --for=condition=Ready pod/web-1 pod/web-2 --timeout=60s >/dev/null
lb=""
for _ in $(seq 1 50); do
  lb=$(kubectl get svc web -o jsonpath='{.status.loadBalancer.ingress[0].ip}')
  [ -n "$lb" ] && break
  sleep 0.2
done
kubectl get svc web
kubectl get endpointslices -l kubernetes.io/service-name=web
say "kubectl exec pod-a -- nslookup web.default.svc.cluster.local   (the node's DNS, through the kube-dns service)"
kubectl exec pod-a -- nslookup web.default.svc.cluster.local
say "kubectl exec pod-a -- wget -qO- http://web/        (the ClusterIP, by its short name)"
for _ in 1 2 3 4; do kubectl exec pod-a -- wget -qO- http://web/; done
if [ -n "$lb" ]; then
  say "wget -qO- http://$lb/        (from this host, to the LoadBalancer IP one node announces)"
  for _ in 1 2 3 4; do busybox wget -qO- "http://$lb/" || true; done
fi

say "$k8ts trace --name $name default/pod-a svc/web        (each hop, read from the nodes' kernels, then one real probe)"
$k8ts trace --name "$name" default/pod-a svc/web || true

say "The cluster is running."
echo "  export KUBECONFIG=$KUBECONFIG"
echo "  kubectl get pods -o wide"
echo "  ./bin/k8ts status                 # clusters, nodes, processes"
echo "  ./bin/k8ts trace --name $name default/pod-a default/pod-b:80   # any flow, hop by hop"
echo "  ./bin/k8ts drops --name $name       # what NetworkPolicy dropped, and why"
echo "  ./bin/k8ts down --name $name        # remove everything this cluster made"
