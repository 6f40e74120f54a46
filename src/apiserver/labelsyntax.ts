// The syntax of label keys and values as Kubernetes validates them (k8s.io/apimachinery validation).

const NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const NAME_MAX = 63;
const PREFIX_MAX = 253;
const VALUE_MAX = 63;

const NAME_RULE =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName', 'my.name' or '123-abc')";

/** What is wrong with a label key (`[prefix/]name`); empty when it is valid. */
export function labelKeyErrors(key: string): string[] {
  const parts = key.split('/');
  if (parts.length > 2) return [`a valid label key ${NAME_RULE}, with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`];
  const errs: string[] = [];
  const name = parts[parts.length - 1];
  if (parts.length === 2) {
    const prefix = parts[0];
    if (prefix === '') errs.push('prefix part must be non-empty');
    else {
      if (Buffer.byteLength(prefix) > PREFIX_MAX) errs.push(`prefix part must be no more than ${PREFIX_MAX} bytes`);
      if (!DNS1123_SUBDOMAIN.test(prefix)) {
        errs.push(
          "prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
        );
      }
    }
  }
  if (name === '') errs.push('name part must be non-empty');
  else if (Buffer.byteLength(name) > NAME_MAX) errs.push(`name part must be no more than ${NAME_MAX} bytes`);
  if (!NAME.test(name)) errs.push(`name part ${NAME_RULE}`);
  return errs;
}

/** What is wrong with a label value (empty, or like a key's name part); empty when it is valid. */
export function labelValueErrors(value: string): string[] {
  const errs: string[] = [];
  if (Buffer.byteLength(value) > VALUE_MAX) errs.push(`must be no more than ${VALUE_MAX} bytes`);
  if (value !== '' && !NAME.test(value)) {
    errs.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue', 'my_value' or '12345')",
    );
  }
  return errs;
}
