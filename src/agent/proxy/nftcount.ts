// What the proxy's drift check needs from `nft -j list table`, read as the bytes arrive: per set or map its
// element count, the chains, and per chain its rule count. At 10,000 services the listing is 2.3 MB of JSON
// holding 30,000 elements; JSON.parse of it blocked the agent's event loop and built a tree of some
// hundred thousand objects only to count them. This scanner keeps no more than a few short strings: it
// follows the JSON structure (containers, strings, escapes) and counts the values of each `elem` array.
//
// The document's shape (nft's libnftables-json): {"nftables": [ITEM, …]} where ITEM is an object with one
// key — "set", "map", "chain", "rule", … — whose value is an object: a set or map has "name" and, when it
// has elements, "elem": [VALUE, …]; a chain has "name"; a rule has "chain". Depths below count the open
// containers: the root object is 1, the array 2, an item 3, its inner object 4, an `elem` array 5.

export interface KernelCounts {
  /** Set or map name → element count (0 when it has none). */
  elements: Map<string, number>;
  chains: Set<string>;
  /** Chain name → rule count. */
  rules: Map<string, number>;
}

/** The error a malformed or truncated listing gets (so the check reports drift instead of trusting it). */
export class NftListingError extends Error {}

const QUOTE = 34;
const BACKSLASH = 92;
const COMMA = 44;
const COLON = 58;
const OPEN_OBJ = 123;
const CLOSE_OBJ = 125;
const OPEN_ARR = 91;
const CLOSE_ARR = 93;

export class NftCountScanner {
  private readonly counts: KernelCounts = { elements: new Map(), chains: new Set(), rules: new Map() };
  /** Open containers, innermost last: true for an object. */
  private readonly stack: boolean[] = [];
  private inString = false;
  private escaped = false;
  /** The string being read, when it is one we keep (a key at depth 3 or 4, or a name value). */
  private text: string | undefined;
  /** Inside an object: whether the next string is a key. */
  private expectKey = false;
  /** The item's kind (its one key at depth 3) and the last key read at depth 4. */
  private kind = '';
  private key = '';
  /** The current set/map's name, and the values seen so far in its elem array. */
  private name = '';
  private elems = 0;
  private inElem = false;
  /** Whether the elem array has had a value start since its last comma (so `[]` counts 0). */
  private elemOpen = false;

  /** Feed the next piece of the listing (any split, even inside a string). */
  feed(chunk: string): void {
    const st = this.stack;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === BACKSLASH) this.escaped = true;
        else if (c === QUOTE) {
          this.inString = false;
          this.endString();
          continue;
        }
        if (this.text !== undefined) this.text += chunk[i];
        continue;
      }
      if (c <= 32) continue;
      const depth = st.length;
      // A value starting directly inside the elem array is one more element.
      if (this.inElem && depth === 5 && c !== CLOSE_ARR && c !== COMMA && !this.elemOpen) {
        this.elemOpen = true;
        this.elems++;
      }
      switch (c) {
        case QUOTE:
          this.inString = true;
          this.text = this.keeps(depth) ? '' : undefined;
          break;
        case OPEN_OBJ:
        case OPEN_ARR:
          if (c === OPEN_ARR && depth === 4 && this.key === 'elem' && (this.kind === 'set' || this.kind === 'map')) {
            this.inElem = true;
            this.elems = 0;
            this.elemOpen = false;
          }
          st.push(c === OPEN_OBJ);
          this.expectKey = c === OPEN_OBJ;
          break;
        case CLOSE_OBJ:
        case CLOSE_ARR:
          if (st.pop() !== (c === CLOSE_OBJ)) throw new NftListingError(`nft listing: unbalanced "${String.fromCharCode(c)}"`);
          if (this.inElem && depth === 5) this.inElem = false;
          if (depth === 4) this.endItem();
          this.expectKey = false;
          break;
        case COMMA:
          if (this.inElem && depth === 5) this.elemOpen = false;
          this.expectKey = st[depth - 1] === true;
          break;
        case COLON:
          break;
        default:
          // A number, true, false or null: nothing we keep.
          break;
      }
    }
  }

  /** The counts, once the whole listing was fed; throws when it ended inside a container or string. */
  result(): KernelCounts {
    if (this.stack.length || this.inString) throw new NftListingError('nft listing: truncated');
    return this.counts;
  }

  /** Strings worth keeping: keys of an item (depth 3) and of its object (depth 4), and values there. */
  private keeps(depth: number): boolean {
    return depth === 3 || depth === 4;
  }

  private endString(): void {
    const s = this.text;
    this.text = undefined;
    if (s === undefined) return;
    const depth = this.stack.length;
    if (this.expectKey) {
      this.expectKey = false;
      if (depth === 3) this.kind = s;
      else this.key = s;
      return;
    }
    if (depth !== 4) return;
    if (this.key === 'name' && (this.kind === 'set' || this.kind === 'map' || this.kind === 'chain')) this.name = s;
    else if (this.key === 'chain' && this.kind === 'rule') this.counts.rules.set(s, (this.counts.rules.get(s) ?? 0) + 1);
  }

  /** An item's inner object closed: record what it was. */
  private endItem(): void {
    if (this.kind === 'set' || this.kind === 'map') this.counts.elements.set(this.name, this.elems);
    else if (this.kind === 'chain') this.counts.chains.add(this.name);
    this.name = '';
    this.elems = 0;
    this.key = '';
  }
}
