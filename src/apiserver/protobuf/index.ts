// Kubernetes protobuf for the API server: request bodies from kubectl 1.32+, and /openapi/v2 for kubectl 1.27/1.28.
export { ProtobufError, type ProtobufErrorCode, ProtoReader, ProtoWriter } from '../../util/protowire.js';
export {
  decodeK8sProtobuf,
  decodeMessage,
  isK8sProtobuf,
  readEnvelope,
  K8S_PROTOBUF_CONTENT_TYPE,
  K8S_PROTOBUF_MAGIC,
  type DecodeOptions,
  type K8sEnvelope,
} from './decode.js';
export { encodeK8sProtobuf, encodeMessage, type EncodeOptions } from './encode.js';
export { K8S_SCHEMA, KINDS, API_VERSION_PACKAGES, messageForKind } from './k8s-messages.js';
export {
  encodeOpenAPIv2,
  decodeOpenAPIv2,
  OPENAPI_V2_CONTENT_TYPE,
  type OpenAPIv2Operation,
  type OpenAPIv2Doc,
  type GroupVersionKind,
} from './openapi-v2.js';
