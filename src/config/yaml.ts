// A config as YAML the way people write it by hand: lists of plain values on one line
// (`methods: [GET, POST]`), everything else in block style.
import { Document, isScalar, visit } from 'yaml';
import type { ConfigDocument } from './schema.js';

export function configToYaml(config: ConfigDocument): string {
  const doc = new Document(config);
  visit(doc, {
    Seq(_, node) {
      if (node.items.length > 0 && node.items.every(isScalar)) node.flow = true;
    },
  });
  return doc.toString({ flowCollectionPadding: false });
}
