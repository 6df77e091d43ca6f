# The probe relay for x86-64 (see relay.rs for the protocol). Assembled with GNU as.
.intel_syntax noprefix
.globl _start
_start:
    mov r15, [rsp+24]
    mov rsi, [rsp+16]
    test rsi, rsi
    jz bad
    xor eax, eax
parse:
    movzx ecx, byte ptr [rsi]
    sub ecx, 0x30
    cmp ecx, 9
    ja parsed
    imul eax, eax, 10
    add eax, ecx
    inc rsi
    jmp parse
parsed:
    xchg al, ah
    shl eax, 16
    or eax, 2
    mov r12d, eax
retry:
    mov edi, 2
    mov esi, 1
    xor edx, edx
    mov eax, 41
    syscall
    test eax, eax
    js fail
    mov r13d, eax
    push 0
    mov eax, 0x0100007f
    shl rax, 32
    or rax, r12
    push rax
    mov edi, r13d
    mov rsi, rsp
    mov edx, 16
    mov eax, 42
    syscall
    add rsp, 16
    test eax, eax
    jns connected
    test r15, r15
    jz fail
    mov r14d, eax
    mov edi, r13d
    mov eax, 3
    syscall
    push 50000000
    push 0
    mov rdi, rsp
    xor esi, esi
    mov eax, 35
    syscall
    add rsp, 16
    jmp retry
connected:
    push 0x2b
    mov edi, 1
    mov rsi, rsp
    mov edx, 1
    mov eax, 1
    syscall
    sub rsp, 4096
    mov eax, 57
    syscall
    test eax, eax
    js fail
    jz child
    mov r8d, r13d
    mov r9d, 1
    jmp copy
child:
    xor r8d, r8d
    mov r9d, r13d
copy:
    mov edi, r8d
    mov rsi, rsp
    mov edx, 4096
    xor eax, eax
    syscall
    test rax, rax
    jle copied
    mov rbx, rsp
    mov r14, rax
write:
    mov edi, r9d
    mov rsi, rbx
    mov rdx, r14
    mov eax, 1
    syscall
    test rax, rax
    jle done
    add rbx, rax
    sub r14, rax
    jnz write
    jmp copy
copied:
    test r8d, r8d
    jnz done
    mov edi, r13d
    mov esi, 1
    mov eax, 48
    syscall
done:
    xor edi, edi
    mov eax, 60
    syscall
fail:
    neg eax
    mov edi, eax
    mov eax, 60
    syscall
bad:
    mov edi, 2
    mov eax, 60
    syscall
