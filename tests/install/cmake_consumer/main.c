/* A program that uses an installed cvae: prints the library version, then
 * creates and frees one tensor. Built by check_install.sh through
 * find_package(cvae) and through pkg-config. */
#include <stdio.h>

#include <cvae/cvae.h>

int main(void)
{
    const int64_t shape[4] = {2, 1, 28, 28};
    cvae_tensor *t = NULL;
    if (cvae_tensor_new(4, shape, &t) != CVAE_OK) {
        fprintf(stderr, "cvae_tensor_new: %s\n", cvae_last_error());
        return 1;
    }
    long long size = (long long)t->size;
    cvae_tensor_free(t);
    if (size != 2 * 28 * 28) {
        fprintf(stderr, "tensor of %lld elements, expected %d\n", size, 2 * 28 * 28);
        return 1;
    }
    printf("cvae %s\n", cvae_version());
    return 0;
}
