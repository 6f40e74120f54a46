// k8ts's own field tables for the Kubernetes protobuf messages it decodes (grammar in schema.ts).
//
// The facts (message names, field numbers, types, which Go fields are pointers, which lack
// `omitempty`, which are embedded) are those of k8s.io/api and k8s.io/apimachinery; field numbers are
// stable across releases, and fields added after these tables are skipped as unknown fields.
// Coverage: every message reachable from the kinds in KINDS below.

import { Schema, type PackageTable, type SpecialKind } from './schema.js';

const INTSTR: PackageTable = {
  IntOrString: 'type=1l intVal=2i strVal=3s',
};

const RESOURCE: PackageTable = {
  Quantity: 'string=1s',
};

const RUNTIME: PackageTable = {
  RawExtension: 'raw=1y',
  TypeMeta: 'apiVersion=1s kind=2s',
  Unknown: 'typeMeta=1@TypeMeta raw=2y contentEncoding=3s contentType=4s',
};

const META_V1: PackageTable = {
  Condition: 'type=1s status=2s observedGeneration=3l lastTransitionTime=4@Time reason=5s message=6s',
  DeleteOptions:
    'gracePeriodSeconds=1l? preconditions=2@Preconditions? orphanDependents=3b? propagationPolicy=4s? dryRun=5s* ignoreStoreReadErrorWithClusterBreakingPotential=6b?',
  Duration: 'duration=1l',
  FieldsV1: 'Raw=1y',
  LabelSelector: 'matchLabels=1{s} matchExpressions=2@LabelSelectorRequirement*',
  LabelSelectorRequirement: 'key=1s operator=2s values=3s*',
  ManagedFieldsEntry: 'manager=1s operation=2s apiVersion=3s time=4@Time? fieldsType=6s fieldsV1=7@FieldsV1? subresource=8s',
  MicroTime: 'seconds=1l nanos=2i',
  ObjectMeta:
    'name=1s generateName=2s namespace=3s selfLink=4s uid=5s resourceVersion=6s generation=7l creationTimestamp=8@Time deletionTimestamp=9@Time? deletionGracePeriodSeconds=10l? labels=11{s} annotations=12{s} ownerReferences=13@OwnerReference* finalizers=14s* managedFields=17@ManagedFieldsEntry*',
  OwnerReference: 'kind=1s name=3s uid=4s apiVersion=5s controller=6b? blockOwnerDeletion=7b?',
  Preconditions: 'uid=1s? resourceVersion=2s?',
  Time: 'seconds=1l nanos=2i',
};

const CORE_V1: PackageTable = {
  AWSElasticBlockStoreVolumeSource: 'volumeID=1s fsType=2s partition=3i readOnly=4b',
  Affinity: 'nodeAffinity=1@NodeAffinity? podAffinity=2@PodAffinity? podAntiAffinity=3@PodAntiAffinity?',
  AppArmorProfile: 'type=1s localhostProfile=2s?',
  AttachedVolume: 'name=1s devicePath=2s',
  AzureDiskVolumeSource: 'diskName=1s diskURI=2s cachingMode=3s? fsType=4s? readOnly=5b? kind=6s?',
  AzureFilePersistentVolumeSource: 'secretName=1s shareName=2s readOnly=3b secretNamespace=4s?',
  AzureFileVolumeSource: 'secretName=1s shareName=2s readOnly=3b',
  Binding: 'metadata=1@meta.v1.ObjectMeta target=2@ObjectReference',
  CSIPersistentVolumeSource:
    'driver=1s volumeHandle=2s readOnly=3b fsType=4s volumeAttributes=5{s} controllerPublishSecretRef=6@SecretReference? nodeStageSecretRef=7@SecretReference? nodePublishSecretRef=8@SecretReference? controllerExpandSecretRef=9@SecretReference? nodeExpandSecretRef=10@SecretReference?',
  CSIVolumeSource: 'driver=1s readOnly=2b? fsType=3s? volumeAttributes=4{s} nodePublishSecretRef=5@LocalObjectReference?',
  Capabilities: 'add=1s* drop=2s*',
  CephFSPersistentVolumeSource: 'monitors=1s* path=2s user=3s secretFile=4s secretRef=5@SecretReference? readOnly=6b',
  CephFSVolumeSource: 'monitors=1s* path=2s user=3s secretFile=4s secretRef=5@LocalObjectReference? readOnly=6b',
  CinderPersistentVolumeSource: 'volumeID=1s fsType=2s readOnly=3b secretRef=4@SecretReference?',
  CinderVolumeSource: 'volumeID=1s fsType=2s readOnly=3b secretRef=4@LocalObjectReference?',
  ClientIPConfig: 'timeoutSeconds=1i?',
  ClusterTrustBundleProjection: 'name=1s? signerName=2s? labelSelector=3@meta.v1.LabelSelector? path=4s optional=5b? user=6l?',
  ConfigMap: 'metadata=1@meta.v1.ObjectMeta data=2{s} binaryData=3{y} immutable=4b?',
  ConfigMapEnvSource: 'localObjectReference=1@LocalObjectReference^ optional=2b?',
  ConfigMapKeySelector: 'localObjectReference=1@LocalObjectReference^ key=2s optional=3b?',
  ConfigMapNodeConfigSource: 'namespace=1s name=2s uid=3s resourceVersion=4s kubeletConfigKey=5s',
  ConfigMapProjection: 'localObjectReference=1@LocalObjectReference^ items=2@KeyToPath* optional=4b?',
  ConfigMapVolumeSource: 'localObjectReference=1@LocalObjectReference^ items=2@KeyToPath* defaultMode=3i? optional=4b? defaultUser=5l?',
  Container:
    'name=1s image=2s command=3s* args=4s* workingDir=5s ports=6@ContainerPort* env=7@EnvVar* resources=8@ResourceRequirements volumeMounts=9@VolumeMount* livenessProbe=10@Probe? readinessProbe=11@Probe? lifecycle=12@Lifecycle? terminationMessagePath=13s imagePullPolicy=14s securityContext=15@SecurityContext? stdin=16b stdinOnce=17b tty=18b envFrom=19@EnvFromSource* terminationMessagePolicy=20s volumeDevices=21@VolumeDevice* startupProbe=22@Probe? resizePolicy=23@ContainerResizePolicy* restartPolicy=24s? restartPolicyRules=25@ContainerRestartRule*',
  ContainerExtendedResourceRequest: 'containerName=1s resourceName=2s requestName=3s',
  ContainerImage: 'names=1s* sizeBytes=2l',
  ContainerPort: 'name=1s hostPort=2i containerPort=3i! protocol=4s hostIP=5s',
  ContainerResizePolicy: 'resourceName=1s restartPolicy=2s',
  ContainerRestartRule: 'action=1s exitCodes=2@ContainerRestartRuleOnExitCodes?',
  ContainerRestartRuleOnExitCodes: 'operator=1s values=2i*',
  ContainerState: 'waiting=1@ContainerStateWaiting? running=2@ContainerStateRunning? terminated=3@ContainerStateTerminated?',
  ContainerStateRunning: 'startedAt=1@meta.v1.Time',
  ContainerStateTerminated: 'exitCode=1i! signal=2i reason=3s message=4s startedAt=5@meta.v1.Time finishedAt=6@meta.v1.Time containerID=7s',
  ContainerStateWaiting: 'reason=1s message=2s',
  ContainerStatus:
    'name=1s state=2@ContainerState lastState=3@ContainerState ready=4b! restartCount=5i! image=6s imageID=7s containerID=8s started=9b? allocatedResources=10{@resource.Quantity} resources=11@ResourceRequirements? volumeMounts=12@VolumeMountStatus* user=13@ContainerUser? allocatedResourcesStatus=14@ResourceStatus* stopSignal=15s?',
  ContainerUser: 'linux=1@LinuxContainerUser?',
  DaemonEndpoint: 'Port=1i!',
  DownwardAPIProjection: 'items=1@DownwardAPIVolumeFile*',
  DownwardAPIVolumeFile: 'path=1s fieldRef=2@ObjectFieldSelector? resourceFieldRef=3@ResourceFieldSelector? mode=4i? user=5l?',
  DownwardAPIVolumeSource: 'items=1@DownwardAPIVolumeFile* defaultMode=2i? defaultUser=3l?',
  EmptyDirVolumeSource: 'medium=1s sizeLimit=2@resource.Quantity? mode=3i?',
  EndpointAddress: 'ip=1s targetRef=2@ObjectReference? hostname=3s nodeName=4s?',
  EndpointPort: 'name=1s port=2i! protocol=3s appProtocol=4s?',
  EndpointSubset: 'addresses=1@EndpointAddress* notReadyAddresses=2@EndpointAddress* ports=3@EndpointPort*',
  Endpoints: 'metadata=1@meta.v1.ObjectMeta subsets=2@EndpointSubset*',
  EnvFromSource: 'prefix=1s configMapRef=2@ConfigMapEnvSource? secretRef=3@SecretEnvSource?',
  EnvVar: 'name=1s value=2s valueFrom=3@EnvVarSource?',
  EnvVarSource:
    'fieldRef=1@ObjectFieldSelector? resourceFieldRef=2@ResourceFieldSelector? configMapKeyRef=3@ConfigMapKeySelector? secretKeyRef=4@SecretKeySelector? fileKeyRef=5@FileKeySelector?',
  EphemeralContainer: 'ephemeralContainerCommon=1@EphemeralContainerCommon^ targetContainerName=2s',
  EphemeralContainerCommon:
    'name=1s image=2s command=3s* args=4s* workingDir=5s ports=6@ContainerPort* env=7@EnvVar* resources=8@ResourceRequirements volumeMounts=9@VolumeMount* livenessProbe=10@Probe? readinessProbe=11@Probe? lifecycle=12@Lifecycle? terminationMessagePath=13s imagePullPolicy=14s securityContext=15@SecurityContext? stdin=16b stdinOnce=17b tty=18b envFrom=19@EnvFromSource* terminationMessagePolicy=20s volumeDevices=21@VolumeDevice* startupProbe=22@Probe? resizePolicy=23@ContainerResizePolicy* restartPolicy=24s? restartPolicyRules=25@ContainerRestartRule*',
  EphemeralVolumeSource: 'volumeClaimTemplate=1@PersistentVolumeClaimTemplate?',
  Event:
    'metadata=1@meta.v1.ObjectMeta involvedObject=2@ObjectReference reason=3s message=4s source=5@EventSource firstTimestamp=6@meta.v1.Time lastTimestamp=7@meta.v1.Time count=8i type=9s eventTime=10@meta.v1.MicroTime series=11@EventSeries? action=12s related=13@ObjectReference? reportingComponent=14s reportingInstance=15s',
  EventSeries: 'count=1i lastObservedTime=2@meta.v1.MicroTime',
  EventSource: 'component=1s host=2s',
  EvictionResponder: 'name=1s priority=2i?',
  ExecAction: 'command=1s*',
  FCVolumeSource: 'targetWWNs=1s* lun=2i? fsType=3s readOnly=4b wwids=5s*',
  FileKeySelector: 'volumeName=1s path=2s key=3s optional=4b?',
  FlexPersistentVolumeSource: 'driver=1s fsType=2s secretRef=3@SecretReference? readOnly=4b options=5{s}',
  FlexVolumeSource: 'driver=1s fsType=2s secretRef=3@LocalObjectReference? readOnly=4b options=5{s}',
  FlockerVolumeSource: 'datasetName=1s datasetUUID=2s',
  GCEPersistentDiskVolumeSource: 'pdName=1s fsType=2s partition=3i readOnly=4b',
  GRPCAction: 'port=1i! service=2s? mode=3s?',
  GitRepoVolumeSource: 'repository=1s revision=2s directory=3s',
  GlusterfsPersistentVolumeSource: 'endpoints=1s path=2s readOnly=3b endpointsNamespace=4s?',
  GlusterfsVolumeSource: 'endpoints=1s path=2s readOnly=3b',
  HTTPGetAction: 'path=1s port=2@intstr.IntOrString host=3s scheme=4s httpHeaders=5@HTTPHeader* protocol=6s?',
  HTTPHeader: 'name=1s value=2s',
  HostAlias: 'ip=1s hostnames=2s*',
  HostIP: 'ip=1s',
  HostPathVolumeSource: 'path=1s type=2s?',
  ISCSIPersistentVolumeSource:
    'targetPortal=1s iqn=2s lun=3i! iscsiInterface=4s fsType=5s readOnly=6b portals=7s* chapAuthDiscovery=8b secretRef=10@SecretReference? chapAuthSession=11b initiatorName=12s?',
  ISCSIVolumeSource:
    'targetPortal=1s iqn=2s lun=3i! iscsiInterface=4s fsType=5s readOnly=6b portals=7s* chapAuthDiscovery=8b secretRef=10@LocalObjectReference? chapAuthSession=11b initiatorName=12s?',
  ImageVolumeSource: 'reference=1s pullPolicy=2s',
  ImageVolumeStatus: 'imageRef=1s',
  KeyToPath: 'key=1s path=2s mode=3i? user=4l?',
  Lifecycle: 'postStart=1@LifecycleHandler? preStop=2@LifecycleHandler? stopSignal=3s?',
  LifecycleHandler: 'exec=1@ExecAction? httpGet=2@HTTPGetAction? tcpSocket=3@TCPSocketAction? sleep=4@SleepAction?',
  LimitRange: 'metadata=1@meta.v1.ObjectMeta spec=2@LimitRangeSpec',
  LimitRangeItem:
    'type=1s max=2{@resource.Quantity} min=3{@resource.Quantity} default=4{@resource.Quantity} defaultRequest=5{@resource.Quantity} maxLimitRequestRatio=6{@resource.Quantity}',
  LimitRangeSpec: 'limits=1@LimitRangeItem*',
  LinuxContainerUser: 'uid=1l! gid=2l! supplementalGroups=3l*',
  LoadBalancerIngress: 'ip=1s hostname=2s ipMode=3s? ports=4@PortStatus*',
  LoadBalancerStatus: 'ingress=1@LoadBalancerIngress*',
  LocalObjectReference: 'name=1s',
  LocalVolumeSource: 'path=1s fsType=2s?',
  ModifyVolumeStatus: 'targetVolumeAttributesClassName=1s status=2s',
  NFSVolumeSource: 'server=1s path=2s readOnly=3b',
  Namespace: 'metadata=1@meta.v1.ObjectMeta spec=2@NamespaceSpec status=3@NamespaceStatus',
  NamespaceCondition: 'type=1s status=2s lastTransitionTime=4@meta.v1.Time reason=5s message=6s',
  NamespaceSpec: 'finalizers=1s*',
  NamespaceStatus: 'phase=1s conditions=2@NamespaceCondition*',
  Node: 'metadata=1@meta.v1.ObjectMeta spec=2@NodeSpec status=3@NodeStatus',
  NodeAddress: 'type=1s address=2s',
  NodeAffinity: 'requiredDuringSchedulingIgnoredDuringExecution=1@NodeSelector? preferredDuringSchedulingIgnoredDuringExecution=2@PreferredSchedulingTerm*',
  NodeAllocatableMappedResources: 'name=1s quantity=2@resource.Quantity?',
  NodeAllocatableOverheadResources: 'name=1s perPod=2@resource.Quantity? perContainer=3@resource.Quantity?',
  NodeAllocatableResourceClaimStatus:
    'resourceClaimName=1s containers=2s* mapping=4@NodeAllocatableMappedResources* overhead=5@NodeAllocatableOverheadResources*',
  NodeCondition: 'type=1s status=2s lastHeartbeatTime=3@meta.v1.Time lastTransitionTime=4@meta.v1.Time reason=5s message=6s',
  NodeConfigSource: 'configMap=2@ConfigMapNodeConfigSource?',
  NodeConfigStatus: 'assigned=1@NodeConfigSource? active=2@NodeConfigSource? lastKnownGood=3@NodeConfigSource? error=4s',
  NodeDaemonEndpoints: 'kubeletEndpoint=1@DaemonEndpoint',
  NodeFeatures: 'supplementalGroupsPolicy=1b?',
  NodePodPreemptionPolicy: 'disableResizePreemption=1s*',
  NodeRuntimeHandler: 'name=1s features=2@NodeRuntimeHandlerFeatures?',
  NodeRuntimeHandlerFeatures: 'recursiveReadOnlyMounts=1b? userNamespaces=2b?',
  NodeSelector: 'nodeSelectorTerms=1@NodeSelectorTerm*',
  NodeSelectorRequirement: 'key=1s operator=2s values=3s*',
  NodeSelectorTerm: 'matchExpressions=1@NodeSelectorRequirement* matchFields=2@NodeSelectorRequirement*',
  NodeSpec:
    'podCIDR=1s externalID=2s providerID=3s unschedulable=4b taints=5@Taint* configSource=6@NodeConfigSource? podCIDRs=7s* podPreemptionPolicy=8@NodePodPreemptionPolicy?',
  NodeStatus:
    'capacity=1{@resource.Quantity} allocatable=2{@resource.Quantity} phase=3s conditions=4@NodeCondition* addresses=5@NodeAddress* daemonEndpoints=6@NodeDaemonEndpoints nodeInfo=7@NodeSystemInfo images=8@ContainerImage* volumesInUse=9s* volumesAttached=10@AttachedVolume* config=11@NodeConfigStatus? runtimeHandlers=12@NodeRuntimeHandler* features=13@NodeFeatures? declaredFeatures=14s*',
  NodeSwapStatus: 'capacity=1l?',
  NodeSystemInfo:
    'machineID=1s systemUUID=2s bootID=3s kernelVersion=4s osImage=5s containerRuntimeVersion=6s kubeletVersion=7s kubeProxyVersion=8s operatingSystem=9s architecture=10s swap=11@NodeSwapStatus?',
  ObjectFieldSelector: 'apiVersion=1s fieldPath=2s',
  ObjectReference: 'kind=1s namespace=2s name=3s uid=4s apiVersion=5s resourceVersion=6s fieldPath=7s',
  PersistentVolume: 'metadata=1@meta.v1.ObjectMeta spec=2@PersistentVolumeSpec status=3@PersistentVolumeStatus',
  PersistentVolumeClaim: 'metadata=1@meta.v1.ObjectMeta spec=2@PersistentVolumeClaimSpec status=3@PersistentVolumeClaimStatus',
  PersistentVolumeClaimCondition: 'type=1s status=2s lastProbeTime=3@meta.v1.Time lastTransitionTime=4@meta.v1.Time reason=5s message=6s',
  PersistentVolumeClaimSpec:
    'accessModes=1s* resources=2@VolumeResourceRequirements volumeName=3s selector=4@meta.v1.LabelSelector? storageClassName=5s? volumeMode=6s? dataSource=7@TypedLocalObjectReference? dataSourceRef=8@TypedObjectReference? volumeAttributesClassName=9s?',
  PersistentVolumeClaimStatus:
    'phase=1s accessModes=2s* capacity=3{@resource.Quantity} conditions=4@PersistentVolumeClaimCondition* allocatedResources=5{@resource.Quantity} allocatedResourceStatuses=7{s} currentVolumeAttributesClassName=8s? modifyVolumeStatus=9@ModifyVolumeStatus? healthStatus=10@VolumeHealthStatus?',
  PersistentVolumeClaimTemplate: 'metadata=1@meta.v1.ObjectMeta spec=2@PersistentVolumeClaimSpec',
  PersistentVolumeClaimVolumeSource: 'claimName=1s readOnly=2b',
  PersistentVolumeSource:
    'gcePersistentDisk=1@GCEPersistentDiskVolumeSource? awsElasticBlockStore=2@AWSElasticBlockStoreVolumeSource? hostPath=3@HostPathVolumeSource? glusterfs=4@GlusterfsPersistentVolumeSource? nfs=5@NFSVolumeSource? rbd=6@RBDPersistentVolumeSource? iscsi=7@ISCSIPersistentVolumeSource? cinder=8@CinderPersistentVolumeSource? cephfs=9@CephFSPersistentVolumeSource? fc=10@FCVolumeSource? flocker=11@FlockerVolumeSource? flexVolume=12@FlexPersistentVolumeSource? azureFile=13@AzureFilePersistentVolumeSource? vsphereVolume=14@VsphereVirtualDiskVolumeSource? quobyte=15@QuobyteVolumeSource? azureDisk=16@AzureDiskVolumeSource? photonPersistentDisk=17@PhotonPersistentDiskVolumeSource? portworxVolume=18@PortworxVolumeSource? scaleIO=19@ScaleIOPersistentVolumeSource? local=20@LocalVolumeSource? storageos=21@StorageOSPersistentVolumeSource? csi=22@CSIPersistentVolumeSource?',
  PersistentVolumeSpec:
    'capacity=1{@resource.Quantity} persistentVolumeSource=2@PersistentVolumeSource^ accessModes=3s* claimRef=4@ObjectReference? persistentVolumeReclaimPolicy=5s storageClassName=6s mountOptions=7s* volumeMode=8s? nodeAffinity=9@VolumeNodeAffinity? volumeAttributesClassName=10s?',
  PersistentVolumeStatus: 'phase=1s message=2s reason=3s lastPhaseTransitionTime=4@meta.v1.Time?',
  PhotonPersistentDiskVolumeSource: 'pdID=1s fsType=2s',
  Pod: 'metadata=1@meta.v1.ObjectMeta spec=2@PodSpec status=3@PodStatus',
  PodAffinity: 'requiredDuringSchedulingIgnoredDuringExecution=1@PodAffinityTerm* preferredDuringSchedulingIgnoredDuringExecution=2@WeightedPodAffinityTerm*',
  PodAffinityTerm:
    'labelSelector=1@meta.v1.LabelSelector? namespaces=2s* topologyKey=3s namespaceSelector=4@meta.v1.LabelSelector? matchLabelKeys=5s* mismatchLabelKeys=6s*',
  PodAntiAffinity:
    'requiredDuringSchedulingIgnoredDuringExecution=1@PodAffinityTerm* preferredDuringSchedulingIgnoredDuringExecution=2@WeightedPodAffinityTerm*',
  PodCertificateProjection:
    'signerName=1s keyType=2s maxExpirationSeconds=3i? credentialBundlePath=4s keyPath=5s certificateChainPath=6s userAnnotations=7{s} user=8l?',
  PodCondition: 'type=1s status=2s lastProbeTime=3@meta.v1.Time lastTransitionTime=4@meta.v1.Time reason=5s message=6s observedGeneration=7l',
  PodDNSConfig: 'nameservers=1s* searches=2s* options=3@PodDNSConfigOption*',
  PodDNSConfigOption: 'name=1s value=2s?',
  PodExtendedResourceClaimStatus: 'requestMappings=1@ContainerExtendedResourceRequest* resourceClaimName=2s',
  PodIP: 'ip=1s',
  PodOS: 'name=1s',
  PodReadinessGate: 'conditionType=1s',
  PodResourceClaim: 'name=1s resourceClaimName=3s? resourceClaimTemplateName=4s?',
  PodResourceClaimStatus: 'name=1s resourceClaimName=2s?',
  PodSchedulingGate: 'name=1s',
  PodSchedulingGroup: 'podGroupName=1s?',
  PodSecurityContext:
    'seLinuxOptions=1@SELinuxOptions? runAsUser=2l? runAsNonRoot=3b? supplementalGroups=4l* fsGroup=5l? runAsGroup=6l? sysctls=7@Sysctl* windowsOptions=8@WindowsSecurityContextOptions? fsGroupChangePolicy=9s? seccompProfile=10@SeccompProfile? appArmorProfile=11@AppArmorProfile? supplementalGroupsPolicy=12s? seLinuxChangePolicy=13s?',
  PodSpec:
    'volumes=1@Volume* containers=2@Container* restartPolicy=3s terminationGracePeriodSeconds=4l? activeDeadlineSeconds=5l? dnsPolicy=6s nodeSelector=7{s} serviceAccountName=8s serviceAccount=9s nodeName=10s hostNetwork=11b hostPID=12b hostIPC=13b securityContext=14@PodSecurityContext? imagePullSecrets=15@LocalObjectReference* hostname=16s subdomain=17s affinity=18@Affinity? schedulerName=19s initContainers=20@Container* automountServiceAccountToken=21b? tolerations=22@Toleration* hostAliases=23@HostAlias* priorityClassName=24s priority=25i? dnsConfig=26@PodDNSConfig? shareProcessNamespace=27b? readinessGates=28@PodReadinessGate* runtimeClassName=29s? enableServiceLinks=30b? preemptionPolicy=31s? overhead=32{@resource.Quantity} topologySpreadConstraints=33@TopologySpreadConstraint* ephemeralContainers=34@EphemeralContainer* setHostnameAsFQDN=35b? os=36@PodOS? hostUsers=37b? schedulingGates=38@PodSchedulingGate* resourceClaims=39@PodResourceClaim* resources=40@ResourceRequirements? hostnameOverride=41s? schedulingGroup=43@PodSchedulingGroup? evictionResponders=44@EvictionResponder*',
  PodStatus:
    'phase=1s conditions=2@PodCondition* message=3s reason=4s hostIP=5s podIP=6s startTime=7@meta.v1.Time? containerStatuses=8@ContainerStatus* qosClass=9s initContainerStatuses=10@ContainerStatus* nominatedNodeName=11s podIPs=12@PodIP* ephemeralContainerStatuses=13@ContainerStatus* resize=14s resourceClaimStatuses=15@PodResourceClaimStatus* hostIPs=16@HostIP* observedGeneration=17l extendedResourceClaimStatus=18@PodExtendedResourceClaimStatus? allocatedResources=19{@resource.Quantity} resources=20@ResourceRequirements? nodeAllocatableResourceClaimStatuses=21@NodeAllocatableResourceClaimStatus* volumeHealth=22@PodVolumeHealth*',
  PodTemplate: 'metadata=1@meta.v1.ObjectMeta template=2@PodTemplateSpec',
  PodTemplateSpec: 'metadata=1@meta.v1.ObjectMeta spec=2@PodSpec',
  PodVolumeHealth: 'name=1s healthConditions=2@VolumeHealthCondition* lastTransitionTime=3@meta.v1.Time',
  PortStatus: 'port=1i! protocol=2s error=3s?',
  PortworxVolumeSource: 'volumeID=1s fsType=2s readOnly=3b',
  PreferredSchedulingTerm: 'weight=1i! preference=2@NodeSelectorTerm',
  Probe:
    'handler=1@ProbeHandler^ initialDelaySeconds=2i timeoutSeconds=3i periodSeconds=4i successThreshold=5i failureThreshold=6i terminationGracePeriodSeconds=7l?',
  ProbeHandler: 'exec=1@ExecAction? httpGet=2@HTTPGetAction? tcpSocket=3@TCPSocketAction? grpc=4@GRPCAction?',
  ProjectedVolumeSource: 'sources=1@VolumeProjection* defaultMode=2i? defaultUser=3l?',
  QuobyteVolumeSource: 'registry=1s volume=2s readOnly=3b user=4s group=5s tenant=6s',
  RBDPersistentVolumeSource: 'monitors=1s* image=2s fsType=3s pool=4s user=5s keyring=6s secretRef=7@SecretReference? readOnly=8b',
  RBDVolumeSource: 'monitors=1s* image=2s fsType=3s pool=4s user=5s keyring=6s secretRef=7@LocalObjectReference? readOnly=8b',
  ReplicationController: 'metadata=1@meta.v1.ObjectMeta spec=2@ReplicationControllerSpec status=3@ReplicationControllerStatus',
  ReplicationControllerCondition: 'type=1s status=2s lastTransitionTime=3@meta.v1.Time reason=4s message=5s',
  ReplicationControllerSpec: 'replicas=1i? selector=2{s} template=3@PodTemplateSpec? minReadySeconds=4i',
  ReplicationControllerStatus:
    'replicas=1i! fullyLabeledReplicas=2i observedGeneration=3l readyReplicas=4i availableReplicas=5i conditions=6@ReplicationControllerCondition*',
  ResourceClaim: 'name=1s request=2s',
  ResourceFieldSelector: 'containerName=1s resource=2s divisor=3@resource.Quantity',
  ResourceHealth: 'resourceID=1s health=2s message=6s?',
  ResourceQuota: 'metadata=1@meta.v1.ObjectMeta spec=2@ResourceQuotaSpec status=3@ResourceQuotaStatus',
  ResourceQuotaSpec: 'hard=1{@resource.Quantity} scopes=2s* scopeSelector=3@ScopeSelector?',
  ResourceQuotaStatus: 'hard=1{@resource.Quantity} used=2{@resource.Quantity}',
  ResourceRequirements: 'limits=1{@resource.Quantity} requests=2{@resource.Quantity} claims=3@ResourceClaim*',
  ResourceStatus: 'name=1s resources=2@ResourceHealth*',
  SELinuxOptions: 'user=1s role=2s type=3s level=4s',
  ScaleIOPersistentVolumeSource:
    'gateway=1s system=2s secretRef=3@SecretReference? sslEnabled=4b protectionDomain=5s storagePool=6s storageMode=7s volumeName=8s fsType=9s readOnly=10b',
  ScaleIOVolumeSource:
    'gateway=1s system=2s secretRef=3@LocalObjectReference? sslEnabled=4b protectionDomain=5s storagePool=6s storageMode=7s volumeName=8s fsType=9s readOnly=10b',
  ScopeSelector: 'matchExpressions=1@ScopedResourceSelectorRequirement*',
  ScopedResourceSelectorRequirement: 'scopeName=1s operator=2s values=3s*',
  SeccompProfile: 'type=1s localhostProfile=2s?',
  Secret: 'metadata=1@meta.v1.ObjectMeta data=2{y} type=3s stringData=4{s} immutable=5b?',
  SecretEnvSource: 'localObjectReference=1@LocalObjectReference^ optional=2b?',
  SecretKeySelector: 'localObjectReference=1@LocalObjectReference^ key=2s optional=3b?',
  SecretProjection: 'localObjectReference=1@LocalObjectReference^ items=2@KeyToPath* optional=4b?',
  SecretReference: 'name=1s namespace=2s',
  SecretVolumeSource: 'secretName=1s items=2@KeyToPath* defaultMode=3i? optional=4b? defaultUser=5l?',
  SecurityContext:
    'capabilities=1@Capabilities? privileged=2b? seLinuxOptions=3@SELinuxOptions? runAsUser=4l? runAsNonRoot=5b? readOnlyRootFilesystem=6b? allowPrivilegeEscalation=7b? runAsGroup=8l? procMount=9s? windowsOptions=10@WindowsSecurityContextOptions? seccompProfile=11@SeccompProfile? appArmorProfile=12@AppArmorProfile?',
  Service: 'metadata=1@meta.v1.ObjectMeta spec=2@ServiceSpec status=3@ServiceStatus',
  ServiceAccount: 'metadata=1@meta.v1.ObjectMeta secrets=2@ObjectReference* imagePullSecrets=3@LocalObjectReference* automountServiceAccountToken=4b?',
  ServiceAccountTokenProjection: 'audience=1s expirationSeconds=2l? path=3s user=4l?',
  ServicePort: 'name=1s protocol=2s port=3i! targetPort=4@intstr.IntOrString nodePort=5i appProtocol=6s?',
  ServiceSpec:
    'ports=1@ServicePort* selector=2{s} clusterIP=3s type=4s externalIPs=5s* sessionAffinity=7s loadBalancerIP=8s loadBalancerSourceRanges=9s* externalName=10s externalTrafficPolicy=11s healthCheckNodePort=12i publishNotReadyAddresses=13b sessionAffinityConfig=14@SessionAffinityConfig? ipFamilyPolicy=17s? clusterIPs=18s* ipFamilies=19s* allocateLoadBalancerNodePorts=20b? loadBalancerClass=21s? internalTrafficPolicy=22s? trafficDistribution=23s?',
  ServiceStatus: 'loadBalancer=1@LoadBalancerStatus conditions=2@meta.v1.Condition*',
  SessionAffinityConfig: 'clientIP=1@ClientIPConfig?',
  SleepAction: 'seconds=1l!',
  StorageOSPersistentVolumeSource: 'volumeName=1s volumeNamespace=2s fsType=3s readOnly=4b secretRef=5@ObjectReference?',
  StorageOSVolumeSource: 'volumeName=1s volumeNamespace=2s fsType=3s readOnly=4b secretRef=5@LocalObjectReference?',
  Sysctl: 'name=1s value=2s',
  TCPSocketAction: 'port=1@intstr.IntOrString host=2s',
  Taint: 'key=1s value=2s effect=3s timeAdded=4@meta.v1.Time?',
  Toleration: 'key=1s operator=2s value=3s effect=4s tolerationSeconds=5l?',
  TopologySpreadConstraint:
    'maxSkew=1i! topologyKey=2s whenUnsatisfiable=3s labelSelector=4@meta.v1.LabelSelector? minDomains=5i? nodeAffinityPolicy=6s? nodeTaintsPolicy=7s? matchLabelKeys=8s*',
  TypedLocalObjectReference: 'apiGroup=1s? kind=2s name=3s',
  TypedObjectReference: 'apiGroup=1s? kind=2s name=3s namespace=4s?',
  Volume: 'name=1s volumeSource=2@VolumeSource^',
  VolumeDevice: 'name=1s devicePath=2s',
  VolumeHealthCondition: 'status=1s reason=2s message=3s',
  VolumeHealthStatus: 'healthConditions=1@VolumeHealthCondition* lastTransitionTime=2@meta.v1.Time',
  VolumeMount: 'name=1s readOnly=2b mountPath=3s subPath=4s mountPropagation=5s? subPathExpr=6s recursiveReadOnly=7s? bindMountOptions=8s*',
  VolumeMountStatus: 'name=1s mountPath=2s readOnly=3b recursiveReadOnly=4s? volumeStatus=5@VolumeStatus?',
  VolumeNodeAffinity: 'required=1@NodeSelector?',
  VolumeProjection:
    'secret=1@SecretProjection? downwardAPI=2@DownwardAPIProjection? configMap=3@ConfigMapProjection? serviceAccountToken=4@ServiceAccountTokenProjection? clusterTrustBundle=5@ClusterTrustBundleProjection? podCertificate=6@PodCertificateProjection?',
  VolumeResourceRequirements: 'limits=1{@resource.Quantity} requests=2{@resource.Quantity}',
  VolumeSource:
    'hostPath=1@HostPathVolumeSource? emptyDir=2@EmptyDirVolumeSource? gcePersistentDisk=3@GCEPersistentDiskVolumeSource? awsElasticBlockStore=4@AWSElasticBlockStoreVolumeSource? gitRepo=5@GitRepoVolumeSource? secret=6@SecretVolumeSource? nfs=7@NFSVolumeSource? iscsi=8@ISCSIVolumeSource? glusterfs=9@GlusterfsVolumeSource? persistentVolumeClaim=10@PersistentVolumeClaimVolumeSource? rbd=11@RBDVolumeSource? flexVolume=12@FlexVolumeSource? cinder=13@CinderVolumeSource? cephfs=14@CephFSVolumeSource? flocker=15@FlockerVolumeSource? downwardAPI=16@DownwardAPIVolumeSource? fc=17@FCVolumeSource? azureFile=18@AzureFileVolumeSource? configMap=19@ConfigMapVolumeSource? vsphereVolume=20@VsphereVirtualDiskVolumeSource? quobyte=21@QuobyteVolumeSource? azureDisk=22@AzureDiskVolumeSource? photonPersistentDisk=23@PhotonPersistentDiskVolumeSource? portworxVolume=24@PortworxVolumeSource? scaleIO=25@ScaleIOVolumeSource? projected=26@ProjectedVolumeSource? storageos=27@StorageOSVolumeSource? csi=28@CSIVolumeSource? ephemeral=29@EphemeralVolumeSource? image=30@ImageVolumeSource?',
  VolumeStatus: 'image=1@ImageVolumeStatus?',
  VsphereVirtualDiskVolumeSource: 'volumePath=1s fsType=2s storagePolicyName=3s storagePolicyID=4s',
  WeightedPodAffinityTerm: 'weight=1i! podAffinityTerm=2@PodAffinityTerm',
  WindowsSecurityContextOptions: 'gmsaCredentialSpecName=1s? gmsaCredentialSpec=2s? runAsUserName=3s? hostProcess=4b?',
};

const APPS_V1: PackageTable = {
  ControllerRevision: 'metadata=1@meta.v1.ObjectMeta data=2@runtime.RawExtension revision=3l!',
  DaemonSet: 'metadata=1@meta.v1.ObjectMeta spec=2@DaemonSetSpec status=3@DaemonSetStatus',
  DaemonSetCondition: 'type=1s status=2s lastTransitionTime=3@meta.v1.Time reason=4s message=5s',
  DaemonSetSpec:
    'selector=1@meta.v1.LabelSelector? template=2@core.v1.PodTemplateSpec updateStrategy=3@DaemonSetUpdateStrategy minReadySeconds=4i revisionHistoryLimit=6i?',
  DaemonSetStatus:
    'currentNumberScheduled=1i! numberMisscheduled=2i! desiredNumberScheduled=3i! numberReady=4i! observedGeneration=5l updatedNumberScheduled=6i numberAvailable=7i numberUnavailable=8i collisionCount=9i? conditions=10@DaemonSetCondition*',
  DaemonSetUpdateStrategy: 'type=1s rollingUpdate=2@RollingUpdateDaemonSet?',
  Deployment: 'metadata=1@meta.v1.ObjectMeta spec=2@DeploymentSpec status=3@DeploymentStatus',
  DeploymentCondition: 'type=1s status=2s reason=4s message=5s lastUpdateTime=6@meta.v1.Time lastTransitionTime=7@meta.v1.Time',
  DeploymentSpec:
    'replicas=1i? selector=2@meta.v1.LabelSelector? template=3@core.v1.PodTemplateSpec strategy=4@DeploymentStrategy minReadySeconds=5i revisionHistoryLimit=6i? paused=7b progressDeadlineSeconds=9i?',
  DeploymentStatus:
    'observedGeneration=1l replicas=2i updatedReplicas=3i availableReplicas=4i unavailableReplicas=5i conditions=6@DeploymentCondition* readyReplicas=7i collisionCount=8i? terminatingReplicas=9i?',
  DeploymentStrategy: 'type=1s rollingUpdate=2@RollingUpdateDeployment?',
  ReplicaSet: 'metadata=1@meta.v1.ObjectMeta spec=2@ReplicaSetSpec status=3@ReplicaSetStatus',
  ReplicaSetCondition: 'type=1s status=2s lastTransitionTime=3@meta.v1.Time reason=4s message=5s',
  ReplicaSetSpec: 'replicas=1i? selector=2@meta.v1.LabelSelector? template=3@core.v1.PodTemplateSpec minReadySeconds=4i',
  ReplicaSetStatus:
    'replicas=1i! fullyLabeledReplicas=2i observedGeneration=3l readyReplicas=4i availableReplicas=5i conditions=6@ReplicaSetCondition* terminatingReplicas=7i?',
  RollingUpdateDaemonSet: 'maxUnavailable=1@intstr.IntOrString? maxSurge=2@intstr.IntOrString?',
  RollingUpdateDeployment: 'maxUnavailable=1@intstr.IntOrString? maxSurge=2@intstr.IntOrString?',
  RollingUpdateStatefulSetStrategy: 'partition=1i? maxUnavailable=2@intstr.IntOrString?',
  StatefulSet: 'metadata=1@meta.v1.ObjectMeta spec=2@StatefulSetSpec status=3@StatefulSetStatus',
  StatefulSetCondition: 'type=1s status=2s lastTransitionTime=3@meta.v1.Time reason=4s message=5s',
  StatefulSetOrdinals: 'start=1i!',
  StatefulSetPersistentVolumeClaimRetentionPolicy: 'whenDeleted=1s whenScaled=2s',
  StatefulSetSpec:
    'replicas=1i? selector=2@meta.v1.LabelSelector? template=3@core.v1.PodTemplateSpec volumeClaimTemplates=4@core.v1.PersistentVolumeClaim* serviceName=5s podManagementPolicy=6s updateStrategy=7@StatefulSetUpdateStrategy revisionHistoryLimit=8i? minReadySeconds=9i persistentVolumeClaimRetentionPolicy=10@StatefulSetPersistentVolumeClaimRetentionPolicy? ordinals=11@StatefulSetOrdinals?',
  StatefulSetStatus:
    'observedGeneration=1l replicas=2i! readyReplicas=3i currentReplicas=4i updatedReplicas=5i currentRevision=6s updateRevision=7s collisionCount=9i? conditions=10@StatefulSetCondition* availableReplicas=11i!',
  StatefulSetUpdateStrategy: 'type=1s rollingUpdate=2@RollingUpdateStatefulSetStrategy?',
};

const BATCH_V1: PackageTable = {
  CronJob: 'metadata=1@meta.v1.ObjectMeta spec=2@CronJobSpec status=3@CronJobStatus',
  CronJobSpec:
    'schedule=1s startingDeadlineSeconds=2l? concurrencyPolicy=3s suspend=4b? jobTemplate=5@JobTemplateSpec successfulJobsHistoryLimit=6i? failedJobsHistoryLimit=7i? timeZone=8s?',
  CronJobStatus: 'active=1@core.v1.ObjectReference* lastScheduleTime=4@meta.v1.Time? lastSuccessfulTime=5@meta.v1.Time?',
  Job: 'metadata=1@meta.v1.ObjectMeta spec=2@JobSpec status=3@JobStatus',
  JobCondition: 'type=1s status=2s lastProbeTime=3@meta.v1.Time lastTransitionTime=4@meta.v1.Time reason=5s message=6s',
  JobSchedulingConfiguration: '',
  JobSpec:
    'parallelism=1i? completions=2i? activeDeadlineSeconds=3l? selector=4@meta.v1.LabelSelector? manualSelector=5b? template=6@core.v1.PodTemplateSpec backoffLimit=7i? ttlSecondsAfterFinished=8i? completionMode=9s? suspend=10b? podFailurePolicy=11@PodFailurePolicy? backoffLimitPerIndex=12i? maxFailedIndexes=13i? podReplacementPolicy=14s? managedBy=15s? successPolicy=16@SuccessPolicy? scheduling=17@JobSchedulingConfiguration?',
  JobStatus:
    'conditions=1@JobCondition* startTime=2@meta.v1.Time? completionTime=3@meta.v1.Time? active=4i succeeded=5i failed=6i completedIndexes=7s uncountedTerminatedPods=8@UncountedTerminatedPods? ready=9i? failedIndexes=10s? terminating=11i?',
  JobTemplateSpec: 'metadata=1@meta.v1.ObjectMeta spec=2@JobSpec',
  PodFailurePolicy: 'rules=1@PodFailurePolicyRule*',
  PodFailurePolicyOnExitCodesRequirement: 'containerName=1s? operator=2s values=3i*',
  PodFailurePolicyOnPodConditionsPattern: 'type=1s status=2s',
  PodFailurePolicyRule: 'action=1s onExitCodes=2@PodFailurePolicyOnExitCodesRequirement? onPodConditions=3@PodFailurePolicyOnPodConditionsPattern*',
  SuccessPolicy: 'rules=1@SuccessPolicyRule*',
  SuccessPolicyRule: 'succeededIndexes=1s? succeededCount=2i?',
  UncountedTerminatedPods: 'succeeded=1s* failed=2s*',
};

const COORDINATION_V1: PackageTable = {
  Lease: 'metadata=1@meta.v1.ObjectMeta spec=2@LeaseSpec',
  LeaseSpec:
    'holderIdentity=1s? leaseDurationSeconds=2i? acquireTime=3@meta.v1.MicroTime? renewTime=4@meta.v1.MicroTime? leaseTransitions=5i? strategy=6s? preferredHolder=7s?',
};

const DISCOVERY_V1: PackageTable = {
  Endpoint:
    'addresses=1s* conditions=2@EndpointConditions hostname=3s? targetRef=4@core.v1.ObjectReference? deprecatedTopology=5{s} nodeName=6s? zone=7s? hints=8@EndpointHints?',
  EndpointConditions: 'ready=1b? serving=2b? terminating=3b?',
  EndpointHints: 'forZones=1@ForZone* forNodes=2@ForNode*',
  EndpointPort: 'name=1s? protocol=2s? port=3i? appProtocol=4s?',
  EndpointSlice: 'metadata=1@meta.v1.ObjectMeta endpoints=2@Endpoint* ports=3@EndpointPort* addressType=4s',
  ForNode: 'name=1s',
  ForZone: 'name=1s',
};

const NETWORKING_V1: PackageTable = {
  HTTPIngressPath: 'path=1s backend=2@IngressBackend pathType=3s?',
  HTTPIngressRuleValue: 'paths=1@HTTPIngressPath*',
  IPBlock: 'cidr=1s except=2s*',
  Ingress: 'metadata=1@meta.v1.ObjectMeta spec=2@IngressSpec status=3@IngressStatus',
  IngressBackend: 'resource=3@core.v1.TypedLocalObjectReference? service=4@IngressServiceBackend?',
  IngressClass: 'metadata=1@meta.v1.ObjectMeta spec=2@IngressClassSpec',
  IngressClassParametersReference: 'apiGroup=1s? kind=2s name=3s scope=4s? namespace=5s?',
  IngressClassSpec: 'controller=1s parameters=2@IngressClassParametersReference?',
  IngressLoadBalancerIngress: 'ip=1s hostname=2s ports=4@IngressPortStatus*',
  IngressLoadBalancerStatus: 'ingress=1@IngressLoadBalancerIngress*',
  IngressPortStatus: 'port=1i! protocol=2s error=3s?',
  IngressRule: 'host=1s ingressRuleValue=2@IngressRuleValue^',
  IngressRuleValue: 'http=1@HTTPIngressRuleValue?',
  IngressServiceBackend: 'name=1s port=2@ServiceBackendPort',
  IngressSpec: 'defaultBackend=1@IngressBackend? tls=2@IngressTLS* rules=3@IngressRule* ingressClassName=4s?',
  IngressStatus: 'loadBalancer=1@IngressLoadBalancerStatus',
  IngressTLS: 'hosts=1s* secretName=2s',
  NetworkPolicy: 'metadata=1@meta.v1.ObjectMeta spec=2@NetworkPolicySpec',
  NetworkPolicyEgressRule: 'ports=1@NetworkPolicyPort* to=2@NetworkPolicyPeer*',
  NetworkPolicyIngressRule: 'ports=1@NetworkPolicyPort* from=2@NetworkPolicyPeer*',
  NetworkPolicyPeer: 'podSelector=1@meta.v1.LabelSelector? namespaceSelector=2@meta.v1.LabelSelector? ipBlock=3@IPBlock?',
  NetworkPolicyPort: 'protocol=1s? port=2@intstr.IntOrString? endPort=3i?',
  NetworkPolicySpec: 'podSelector=1@meta.v1.LabelSelector ingress=2@NetworkPolicyIngressRule* egress=3@NetworkPolicyEgressRule* policyTypes=4s*',
  ServiceBackendPort: 'name=1s number=2i',
};

const AUTOSCALING_V1: PackageTable = {
  CrossVersionObjectReference: 'kind=1s name=2s apiVersion=3s',
  HorizontalPodAutoscaler: 'metadata=1@meta.v1.ObjectMeta spec=2@HorizontalPodAutoscalerSpec status=3@HorizontalPodAutoscalerStatus',
  HorizontalPodAutoscalerSpec: 'scaleTargetRef=1@CrossVersionObjectReference minReplicas=2i? maxReplicas=3i! targetCPUUtilizationPercentage=4i?',
  HorizontalPodAutoscalerStatus:
    'observedGeneration=1l? lastScaleTime=2@meta.v1.Time? currentReplicas=3i! desiredReplicas=4i! currentCPUUtilizationPercentage=5i?',
  Scale: 'metadata=1@meta.v1.ObjectMeta spec=2@ScaleSpec status=3@ScaleStatus',
  ScaleSpec: 'replicas=1i',
  ScaleStatus: 'replicas=1i! selector=2s',
};

const POLICY_V1: PackageTable = {
  Eviction: 'metadata=1@meta.v1.ObjectMeta deleteOptions=2@meta.v1.DeleteOptions?',
  PodDisruptionBudget: 'metadata=1@meta.v1.ObjectMeta spec=2@PodDisruptionBudgetSpec status=3@PodDisruptionBudgetStatus',
  PodDisruptionBudgetSpec:
    'minAvailable=1@intstr.IntOrString? selector=2@meta.v1.LabelSelector? maxUnavailable=3@intstr.IntOrString? unhealthyPodEvictionPolicy=4s?',
  PodDisruptionBudgetStatus:
    'observedGeneration=1l disruptedPods=2{@meta.v1.Time} disruptionsAllowed=3i! currentHealthy=4i! desiredHealthy=5i! expectedPods=6i! conditions=7@meta.v1.Condition*',
};

const RBAC_V1: PackageTable = {
  AggregationRule: 'clusterRoleSelectors=1@meta.v1.LabelSelector*',
  ClusterRole: 'metadata=1@meta.v1.ObjectMeta rules=2@PolicyRule* aggregationRule=3@AggregationRule?',
  ClusterRoleBinding: 'metadata=1@meta.v1.ObjectMeta subjects=2@Subject* roleRef=3@RoleRef',
  PolicyRule: 'verbs=1s* apiGroups=2s* resources=3s* resourceNames=4s* nonResourceURLs=5s*',
  Role: 'metadata=1@meta.v1.ObjectMeta rules=2@PolicyRule*',
  RoleBinding: 'metadata=1@meta.v1.ObjectMeta subjects=2@Subject* roleRef=3@RoleRef',
  RoleRef: 'apiGroup=1s kind=2s name=3s',
  Subject: 'kind=1s apiGroup=2s name=3s namespace=4s',
};

const SCHEDULING_V1: PackageTable = {
  PriorityClass: 'metadata=1@meta.v1.ObjectMeta value=2i! globalDefault=3b description=4s preemptionPolicy=5s?',
};

const CERTIFICATES_V1: PackageTable = {
  CertificateSigningRequest: 'metadata=1@meta.v1.ObjectMeta spec=2@CertificateSigningRequestSpec status=3@CertificateSigningRequestStatus',
  CertificateSigningRequestCondition: 'type=1s status=6s reason=2s message=3s lastUpdateTime=4@meta.v1.Time lastTransitionTime=5@meta.v1.Time',
  CertificateSigningRequestSpec: 'request=1y signerName=7s expirationSeconds=8i? usages=5s* username=2s uid=3s groups=4s* extra=6{@ExtraValue}',
  CertificateSigningRequestStatus: 'conditions=1@CertificateSigningRequestCondition* certificate=2y',
  ExtraValue: '[]items=1s*',
};

const AUTHENTICATION_V1: PackageTable = {
  AttestationValue: '[]items=1s*',
  BoundObjectReference: 'kind=1s apiVersion=2s name=3s uid=4s',
  TokenRequest: 'metadata=1@meta.v1.ObjectMeta spec=2@TokenRequestSpec status=3@TokenRequestStatus',
  TokenRequestSpec: 'audiences=1s* boundObjectRef=3@BoundObjectReference? expirationSeconds=4l? attestations=5{@AttestationValue}',
  TokenRequestStatus: 'token=1s expirationTimestamp=2@meta.v1.Time',
  ExtraValue: '[]items=1s*',
  SelfSubjectReview: 'metadata=1@meta.v1.ObjectMeta status=2@SelfSubjectReviewStatus',
  SelfSubjectReviewStatus: 'userInfo=1@UserInfo',
  UserInfo: 'username=1s uid=2s groups=3s* extra=4{@ExtraValue}',
};

const AUTHORIZATION_V1: PackageTable = {
  ExtraValue: '[]items=1s*',
  LocalSubjectAccessReview: 'metadata=1@meta.v1.ObjectMeta spec=2@SubjectAccessReviewSpec status=3@SubjectAccessReviewStatus',
  NonResourceAttributes: 'path=1s verb=2s',
  NonResourceRule: 'verbs=1s* nonResourceURLs=2s*',
  ResourceAttributes: 'namespace=1s verb=2s group=3s version=4s resource=5s subresource=6s name=7s',
  ResourceRule: 'verbs=1s* apiGroups=2s* resources=3s* resourceNames=4s*',
  SelfSubjectAccessReview: 'metadata=1@meta.v1.ObjectMeta spec=2@SelfSubjectAccessReviewSpec status=3@SubjectAccessReviewStatus',
  SelfSubjectAccessReviewSpec: 'resourceAttributes=1@ResourceAttributes? nonResourceAttributes=2@NonResourceAttributes?',
  SelfSubjectRulesReview: 'metadata=1@meta.v1.ObjectMeta spec=2@SelfSubjectRulesReviewSpec status=3@SubjectRulesReviewStatus',
  SelfSubjectRulesReviewSpec: 'namespace=1s',
  SubjectAccessReview: 'metadata=1@meta.v1.ObjectMeta spec=2@SubjectAccessReviewSpec status=3@SubjectAccessReviewStatus',
  SubjectAccessReviewSpec:
    'resourceAttributes=1@ResourceAttributes? nonResourceAttributes=2@NonResourceAttributes? user=3s groups=4s* extra=5{@ExtraValue} uid=6s',
  SubjectAccessReviewStatus: 'allowed=1b! reason=2s evaluationError=3s denied=4b',
  SubjectRulesReviewStatus: 'resourceRules=1@ResourceRule* nonResourceRules=2@NonResourceRule* incomplete=3b! evaluationError=4s',
};
const SPECIALS: Record<string, SpecialKind> = {
  'meta.v1.Time': 'Time',
  'meta.v1.MicroTime': 'MicroTime',
  'meta.v1.Duration': 'Duration',
  'meta.v1.FieldsV1': 'FieldsV1',
  'runtime.RawExtension': 'RawExtension',
  'intstr.IntOrString': 'IntOrString',
  'resource.Quantity': 'Quantity',
};

/** Every table k8ts knows, by package alias. */
export const K8S_SCHEMA = new Schema(
  {
    intstr: INTSTR,
    resource: RESOURCE,
    runtime: RUNTIME,
    'meta.v1': META_V1,
    'core.v1': CORE_V1,
    'apps.v1': APPS_V1,
    'batch.v1': BATCH_V1,
    'coordination.v1': COORDINATION_V1,
    'discovery.v1': DISCOVERY_V1,
    'networking.v1': NETWORKING_V1,
    'autoscaling.v1': AUTOSCALING_V1,
    'policy.v1': POLICY_V1,
    'rbac.v1': RBAC_V1,
    'scheduling.v1': SCHEDULING_V1,
    'authentication.v1': AUTHENTICATION_V1,
    'certificates.v1': CERTIFICATES_V1,
    'authorization.v1': AUTHORIZATION_V1,
  },
  SPECIALS,
);

/** Package alias of each apiVersion whose objects can be decoded. */
export const API_VERSION_PACKAGES: Readonly<Record<string, string>> = {
  v1: 'core.v1',
  'apps/v1': 'apps.v1',
  'batch/v1': 'batch.v1',
  'coordination.k8s.io/v1': 'coordination.v1',
  'discovery.k8s.io/v1': 'discovery.v1',
  'networking.k8s.io/v1': 'networking.v1',
  'autoscaling/v1': 'autoscaling.v1',
  'policy/v1': 'policy.v1',
  'rbac.authorization.k8s.io/v1': 'rbac.v1',
  'scheduling.k8s.io/v1': 'scheduling.v1',
  'authentication.k8s.io/v1': 'authentication.v1',
  'certificates.k8s.io/v1': 'certificates.v1',
  'authorization.k8s.io/v1': 'authorization.v1',
  'meta.k8s.io/v1': 'meta.v1',
};

/** The kinds a request body may carry, per package alias (the roots of the tables above). */
export const KINDS: Readonly<Record<string, readonly string[]>> = {
  'core.v1': [
    'Namespace',
    'ConfigMap',
    'Secret',
    'Service',
    'Pod',
    'ServiceAccount',
    'Endpoints',
    'Node',
    'Event',
    'ResourceQuota',
    'LimitRange',
    'PersistentVolumeClaim',
    'PersistentVolume',
    'PodTemplate',
    'ReplicationController',
    'Binding',
  ],
  'apps.v1': ['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'ControllerRevision'],
  'batch.v1': ['Job', 'CronJob'],
  'coordination.v1': ['Lease'],
  'discovery.v1': ['EndpointSlice'],
  'networking.v1': ['NetworkPolicy', 'Ingress', 'IngressClass'],
  'autoscaling.v1': ['Scale', 'HorizontalPodAutoscaler'],
  'policy.v1': ['PodDisruptionBudget', 'Eviction'],
  'rbac.v1': ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'],
  'scheduling.v1': ['PriorityClass'],
  'authentication.v1': ['TokenRequest', 'SelfSubjectReview'],
  'certificates.v1': ['CertificateSigningRequest'],
  'authorization.v1': ['SubjectAccessReview', 'SelfSubjectAccessReview', 'SelfSubjectRulesReview', 'LocalSubjectAccessReview'],
  'meta.v1': ['DeleteOptions'],
};

/**
 * The table name of the message for an object of this apiVersion and kind, or undefined.
 * DeleteOptions is registered in every group-version, as in Kubernetes.
 */
export function messageForKind(apiVersion: string, kind: string): string | undefined {
  const pkg = API_VERSION_PACKAGES[apiVersion];
  if (pkg === undefined) return undefined;
  if (kind === 'DeleteOptions') return 'meta.v1.DeleteOptions';
  return KINDS[pkg]?.includes(kind) ? `${pkg}.${kind}` : undefined;
}
