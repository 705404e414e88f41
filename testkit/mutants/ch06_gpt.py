"""Common wrong answers of Assignment 6 (GPT: causal language modelling, decoding, prompts, scale)."""
from testkit.mutants import Mutant

# sample_next_token's solution from the temperature to the end: one mutant moves the temperature
_TEMPERATURE_LINE = ("    logits = logits / temperature                                        "
                     "# on the logits, before the softmax\n")
_TEMPERATURE_AND_SOFTMAX = _TEMPERATURE_LINE + """    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]           # (B, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p is not None:
        probs, order = torch.softmax(logits, dim=-1).sort(dim=-1, descending=True)
        before = probs.cumsum(dim=-1) - probs                            # mass of the tokens ranked above
        drop_sorted = before >= top_p                                    # the token crossing top_p stays
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)   # back to vocabulary order
        logits = logits.masked_fill(drop, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    return torch.multinomial(probs, num_samples=1).squeeze(-1)"""

MUTANTS = [
    # ---- task 1: the causal mask and the next-token loss
    Mutant("causal_mask_sees_future", "causal_lm",
           "dtype=torch.bool, device=q.device).tril()", "dtype=torch.bool, device=q.device).triu()",
           "upper instead of lower triangle: every position sees the future", hint="wrong triangle"),
    Mutant("causal_mask_excludes_diagonal", "causal_lm",
           "dtype=torch.bool, device=q.device).tril()", "dtype=torch.bool, device=q.device).tril(-1)",
           "a position may not attend to itself: the first row has no key left (NaN)",
           hint="keep the diagonal"),
    Mutant("causal_mask_after_softmax", "causal_lm",
           '    scores = scores.masked_fill(~mask, float("-inf"))                   # the future: weight 0\n'
           "    return torch.softmax(scores, dim=-1) @ v",
           "    return (torch.softmax(scores, dim=-1) * mask) @ v",
           "zeroes the future's weights after the softmax, so rows no longer sum to 1",
           hint="after the softmax"),
    Mutant("causal_no_scaling", "causal_lm",
           "q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])", "q @ k.transpose(-2, -1)",
           "forgets to divide the scores by sqrt(d_k)", hint="WITHOUT scaling"),
    Mutant("loss_labels_not_shifted", "causal_lm",
           "logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1)", "logits.reshape(-1, V), ids.reshape(-1)",
           "scores each position against its own input token: the labels are not shifted",
           hint="labels are not shifted"),
    Mutant("loss_shifted_wrong_way", "causal_lm",
           "logits[:, :-1].reshape(-1, V), ids[:, 1:].reshape(-1)",
           "logits[:, 1:].reshape(-1, V), ids[:, :-1].reshape(-1)",
           "predicts the previous token instead of the next one", hint="shifted the wrong way"),
    Mutant("loss_summed", "causal_lm",
           "ids[:, 1:].reshape(-1))", 'ids[:, 1:].reshape(-1), reduction="sum")',
           "sums the losses instead of averaging them", hint="the sum"),

    # ---- task 2: sampling with temperature, top-k and top-p
    Mutant("temperature_after_softmax", "sample_next_token",
           _TEMPERATURE_AND_SOFTMAX, _TEMPERATURE_AND_SOFTMAX
           .replace(_TEMPERATURE_LINE, "")
           .replace("probs = torch.softmax(logits, dim=-1)\n    return",
                    "probs = torch.softmax(logits, dim=-1) / temperature\n    return"),
           "divides the probabilities (after the softmax) by the temperature, where the sampling's "
           "normalisation cancels it", hint="after the softmax"),
    Mutant("temperature_multiplied", "sample_next_token",
           "logits = logits / temperature", "logits = logits * temperature",
           "multiplies the logits by the temperature", hint="flatter instead of sharper"),
    Mutant("greedy_not_handled", "sample_next_token",
           "    if temperature == 0:\n        return logits.argmax(dim=-1)                                     # greedy decoding\n",
           "",
           "divides by a temperature of 0 instead of decoding greedily", hint="temperature=0"),
    Mutant("top_k_keeps_k_minus_1", "sample_next_token",
           "logits.masked_fill(logits < kth,", "logits.masked_fill(logits <= kth,",
           "drops the k-th largest logit too: keeps k - 1 tokens", hint="most likely tokens should be sampled"),
    Mutant("top_p_drops_crossing_token", "sample_next_token",
           "before = probs.cumsum(dim=-1) - probs", "before = probs.cumsum(dim=-1)",
           "drops the token whose cumulative probability crosses p", hint="crosses p is dropped"),

    # ---- task 3: the generation loop
    Mutant("generate_no_context_crop", "generate",
           "logits = self(idx[:, -self.n_ctx:])", "logits = self(idx)",
           "feeds the whole sequence, longer than the context", hint="past the model's context"),
    Mutant("generate_keeps_first_tokens", "generate",
           "logits = self(idx[:, -self.n_ctx:])", "logits = self(idx[:, :self.n_ctx])",
           "crops to the FIRST n_ctx tokens, so the prediction stops moving", hint="LAST n_ctx tokens"),
    Mutant("generate_first_position", "generate",
           "next_id = logits[:, -1].argmax(-1, keepdim=True)", "next_id = logits[:, 0].argmax(-1, keepdim=True)",
           "takes the prediction of the first position instead of the last", hint="LAST position"),
    Mutant("generate_ignores_eos", "generate",
           "            if eos_id is not None and next_id.item() == eos_id:\n                break\n", "",
           "never stops at the end-of-text token", hint="should stop once token"),
    Mutant("generate_drops_eos", "generate",
           "            idx = torch.cat([idx, next_id], dim=1)\n"
           "            if eos_id is not None and next_id.item() == eos_id:\n"
           "                break\n",
           "            if eos_id is not None and next_id.item() == eos_id:\n"
           "                break\n"
           "            idx = torch.cat([idx, next_id], dim=1)\n",
           "stops at the end-of-text token without appending it", hint="drops it"),

    # ---- task 4: prompts
    Mutant("prompt_trailing_space", "build_prompt",
           'lines.append(f"{query} =>")', 'lines.append(f"{query} => ")',
           "leaves a space after the final arrow (a token the model would not expect)",
           hint="trailing space"),
    Mutant("prompt_without_description", "build_prompt",
           "lines = [task_description] if task_description else []", "lines = []",
           "forgets the task description", hint="description is missing"),
    Mutant("prompt_empty_description_line", "build_prompt",
           "lines = [task_description] if task_description else []", "lines = [task_description]",
           "writes an empty first line when there is no description",
           hint="no description line at all"),
    Mutant("prompt_swapped_pairs", "build_prompt",
           'f"{x} => {y}" for x, y in examples', 'f"{y} => {x}" for x, y in examples',
           "writes each example as output => input", hint="output => input"),

    # ---- task 5: parameter count
    Mutant("params_no_positions", "count_params",
           "embeddings = vocab_size * d + n_ctx * d", "embeddings = vocab_size * d",
           "forgets the learned position embeddings", hint="position embeddings are missing"),
    Mutant("params_untied_head", "count_params",
           "+ 2 * d   # + the final ln_f", "+ 2 * d + vocab_size * d   # + the final ln_f",
           "counts the output layer as a second vocabulary × d matrix", hint="tied"),
    Mutant("params_no_mlp_biases", "count_params",
           "mlp = (d * 4 * d + 4 * d) + (4 * d * d + d)", "mlp = (d * 4 * d) + (4 * d * d)",
           "forgets the MLP's biases", hint="the MLP's biases"),
    Mutant("params_no_final_norm", "count_params",
           "+ 2 * d   # + the final ln_f", "   # + the final ln_f",
           "forgets the final layer norm", hint="final layer norm"),
    Mutant("params_gpt2_vocab_hardcoded", "count_params",
           "embeddings = vocab_size * d + n_ctx * d", "embeddings = 50257 * d + 1024 * d",
           "hard-codes GPT-2's vocabulary and context: right for GPT-2, wrong for any other size"),

    # ---- task 6: perplexity
    Mutant("perplexity_returns_nll", "perplexity",
           "return math.exp(total / (len(ids) - 1))", "return total / (len(ids) - 1)",
           "returns the mean negative log-likelihood, not its exponential", hint="exponential"),
    Mutant("perplexity_no_crop", "perplexity",
           "window = ids[start:start + self.n_ctx]", "window = ids",
           "feeds the whole text, longer than the context", hint="longer than the context"),
    Mutant("perplexity_disjoint_windows", "perplexity",
           "start += self.n_ctx - 1", "start += self.n_ctx",
           "windows that do not overlap: each window's first token is never predicted",
           hint="do not overlap"),
    Mutant("perplexity_mean_of_windows", "perplexity",
           '            total += F.cross_entropy(logits[:-1], window[1:], reduction="sum").item()\n'
           "            start += self.n_ctx - 1                                        # share one token\n"
           "        return math.exp(total / (len(ids) - 1))",
           "            total += F.cross_entropy(logits[:-1], window[1:]).item()\n"
           "            start += self.n_ctx - 1                                        # share one token\n"
           "        return math.exp(total / math.ceil((len(ids) - 1) / (self.n_ctx - 1)))",
           "averages the windows' mean losses although the last window is shorter",
           hint="average the windows"),
    Mutant("causal_attention_calls_torch", "causal_lm",
           "return torch.softmax(scores, dim=-1) @ v",
           "return F.scaled_dot_product_attention(q, k, v, is_causal=True)",
           "calls F.scaled_dot_product_attention, which the assignment rules out"),
    Mutant("causal_attention_four_dimensional_only", "causal_lm",
           "scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])",
           "scores = q @ k.transpose(2, 3) / math.sqrt(q.shape[-1])",
           "transposes axes 2 and 3: right for (B, H, T, d) only, not any leading dimensions"),
    Mutant("sample_int32_ids", "sample_next_token",
           "return torch.multinomial(probs, num_samples=1).squeeze(-1)",
           "return torch.multinomial(probs, num_samples=1).squeeze(-1).int()",
           "returns int32 ids, not the torch.long the task asks for"),
    Mutant("count_params_float", "count_params",
           "return embeddings + n_layer * (attention + mlp + layer_norms) + 2 * d",
           "return float(embeddings + n_layer * (attention + mlp + layer_norms) + 2 * d)",
           "returns a float, not an int"),
    Mutant("perplexity_tensor", "perplexity",
           "return math.exp(total / (len(ids) - 1))",
           "return torch.tensor(total / (len(ids) - 1)).exp()",
           "returns a tensor, not a Python float"),
]
