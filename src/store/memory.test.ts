// Runs the Store conformance suite against the in-memory backend.
import { storeConformance } from './conformance.js';
import { MemoryStore } from './memory.js';

storeConformance('memory', async () => new MemoryStore());
