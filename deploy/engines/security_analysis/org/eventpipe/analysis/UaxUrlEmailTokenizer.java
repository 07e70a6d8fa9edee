package org.eventpipe.analysis;

import org.apache.lucene.analysis.Tokenizer;
import org.apache.lucene.analysis.email.UAX29URLEmailTokenizer;
import org.elasticsearch.plugin.NamedComponent;
import org.elasticsearch.plugin.analysis.TokenizerFactory;

/** `uax_url_email`, the .security index's `email` analyzer's tokenizer. */
@NamedComponent("uax_url_email")
public class UaxUrlEmailTokenizer implements TokenizerFactory {
    @Override
    public Tokenizer create() {
        return new UAX29URLEmailTokenizer();
    }
}
