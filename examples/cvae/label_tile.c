/* A tile showing a label's number, for the first column of a picture's rows. */
#include "cli.h"

/* Digits 0-9 in a 5x7 bitmap font: row r of digit d is bits 4..0 of glyph[d][r]. */
static const unsigned char glyph[10][7] = {
    {14, 17, 19, 21, 25, 17, 14}, {4, 12, 4, 4, 4, 4, 14},  {14, 17, 1, 2, 4, 8, 31},
    {31, 2, 4, 2, 1, 17, 14},     {2, 6, 10, 18, 31, 2, 2}, {31, 16, 30, 1, 1, 17, 14},
    {6, 8, 16, 30, 17, 17, 14},   {31, 1, 2, 4, 8, 8, 8},   {14, 17, 17, 14, 17, 17, 14},
    {14, 17, 17, 15, 1, 2, 12}};

void cli_label_tile(float *tile, int64_t channels, int64_t h, int64_t w, int64_t label)
{
    char text[24];
    const int n = snprintf(text, sizeof text, "%lld", (long long)label);
    /* the largest scale at which the digits (5 s wide, s apart) fit with a margin */
    int64_t s = 1;
    while ((s + 1) * (6 * n - 1) <= w - 4 && (s + 1) * 7 <= h - 4) s++;
    const int64_t tw = s * (6 * n - 1), x0 = (w - tw) / 2, y0 = (h - 7 * s) / 2;
    for (int64_t c = 0; c < channels; c++) {
        float *p = tile + c * h * w;
        for (int64_t i = 0; i < h * w; i++) p[i] = 0.35f; /* grey: not a digit of the data */
        for (int k = 0; k < n; k++)
            for (int64_t y = 0; y < 7 * s; y++)
                for (int64_t x = 0; x < 5 * s; x++) {
                    const int64_t px = x0 + k * 6 * s + x, py = y0 + y;
                    if (px < 0 || px >= w || py < 0 || py >= h) continue;
                    if (glyph[text[k] - '0'][y / s] >> (4 - x / s) & 1) p[py * w + px] = 1.0f;
                }
    }
}
