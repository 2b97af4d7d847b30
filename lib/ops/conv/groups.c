/* Label groups of the conditional convolutions (conv/core.h). */
#include "ops/conv/core.h"

void cvae__group_labels(cvae__op_alloc *a, const int32_t *labels, int64_t n, int64_t k,
                        cvae__label_groups *gr)
{
    const int64_t ng_max = n < k ? n : k;
    int64_t *order = cvae__op_keep(a, (size_t)n * sizeof *order);
    int64_t *start = cvae__op_keep(a, (size_t)(ng_max + 1) * sizeof *start);
    int32_t *label = cvae__op_keep(a, (size_t)ng_max * sizeof *label);
    int64_t *pos = cvae__op_scratch(a, (size_t)k * sizeof *pos);
    if (a->status) return;
    memset(pos, 0, (size_t)k * sizeof *pos);
    for (int64_t s = 0; s < n; s++) pos[labels[s]]++;
    int64_t ng = 0, acc = 0;
    for (int64_t l = 0; l < k; l++) {
        if (!pos[l]) continue;
        label[ng] = (int32_t)l;
        start[ng++] = acc;
        const int64_t c = pos[l];
        pos[l] = acc;
        acc += c;
    }
    start[ng] = n;
    for (int64_t s = 0; s < n; s++) order[pos[labels[s]]++] = s;
    *gr = (cvae__label_groups){order, start, label, ng};
}

int64_t cvae__groups_max(const cvae__label_groups *gr)
{
    int64_t m = 0;
    for (int64_t gi = 0; gi < gr->n_groups; gi++)
        if (gr->start[gi + 1] - gr->start[gi] > m) m = gr->start[gi + 1] - gr->start[gi];
    return m;
}
